"""What every torch implementation shares: canonical parameters as nn.Parameters, input checks,
export back to the canonical dict, and gradients in canonical names.

Every implementation's trainable parameters *are* the canonical ones (same names, same
layouts), so `module.export_params()` is exact and autograd gives canonical gradients
directly; an implementation that needs another layout (nn.LSTM's transposed weights) derives it
inside `forward`, where the conversion is differentiated along with everything else.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import inputs
from ..spec import CellSpec


class CellModule(nn.Module):
    """Base of every torch cell module: call it as ``module(x, hx=None, timespans=None)``.

    Args:
        spec: the cell.
        params: canonical parameters; None draws `spec.init_params(seed)`.
        dtype: parameter dtype (default: torch's default dtype).
        device: where the parameters live.
        seed: seed for `init_params` when params is None.
    """

    impl = ""
    #: True: `prepare` passes ts=None when the call gave no timespans (every step lasts 1), so an
    #: implementation can skip the multiply; False: it gets a tensor of ones.
    unit_timespans_as_none = False

    def __init__(self, spec: CellSpec, params=None, dtype=None, device=None, seed: int = 0):
        super().__init__()
        self.spec = spec
        params = spec.init_params(seed) if params is None else spec.check_params(params)
        dtype = dtype or torch.get_default_dtype()
        for name, value in params.items():
            tensor = torch.as_tensor(np.asarray(value), dtype=dtype, device=device)
            self.register_parameter(name, nn.Parameter(tensor.clone()))
        for name, value in spec.constants().items():
            self.register_buffer(
                name, torch.as_tensor(value, dtype=dtype, device=device), persistent=False
            )

    # ---------------------------------------------------------------- helpers
    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def canonical(self) -> dict[str, torch.Tensor]:
        """Canonical name -> parameter tensor (what the step functions read)."""
        return dict(self.named_parameters())

    def constants(self) -> dict[str, torch.Tensor]:
        return dict(self.named_buffers())

    def export_params(self) -> dict[str, np.ndarray]:
        """The canonical parameter dict, as numpy arrays of the module's dtype."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.named_parameters()}

    def prepare(self, x, hx, timespans):
        """Check the call's arguments -> (x, state tuple, ts (B, T, 1)), all in the module dtype.

        ts is None instead when no timespans were given and `unit_timespans_as_none` is set.
        """
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x: expected a torch.Tensor, got {type(x).__name__}")
        batch, steps = inputs.check_sequence_shape(self.spec, x.shape)
        if x.dtype != self.dtype:
            raise ValueError(f"x: expected dtype {self.dtype} (the module's), got {x.dtype}")
        kind = dict(dtype=self.dtype, device=x.device)
        if timespans is None:
            ts = None if self.unit_timespans_as_none else torch.ones(batch, steps, 1, **kind)
        else:
            ts = torch.as_tensor(timespans, **kind)
            inputs.check_timespans_shape(ts.shape, batch, steps)
            inputs.check_timespan_values(ts.detach().cpu().numpy())
            ts = ts.reshape(batch, steps, 1)
        parts = inputs.state_parts(self.spec, hx, batch, shape_of=lambda t: tuple(t.shape))
        if parts is None:
            parts = tuple(
                torch.zeros(batch, self.spec.state_size, **kind)
                for _ in range(self.spec.state_arity)
            )
        else:
            parts = tuple(torch.as_tensor(p, **kind) for p in parts)
        return x, parts, ts

    def forward(self, x, hx=None, timespans=None):
        """x (B, T, I), hx None | h (B, H) | (h, c), timespans None | (B, T) | (B, T, 1)
        -> (y (B, T, out), h_T shaped like hx)."""
        x, state, ts = self.prepare(x, hx, timespans)
        y, state = self.run(x, state, ts)
        return y, inputs.pack_state(self.spec, state)

    def run(self, x, state, ts):
        """The implementation: checked x, state tuple and ts -> (y, state tuple)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        spec = self.spec
        sizes = f"input_size={spec.input_size}, units={spec.units}"
        return f"{spec.describe()}, {sizes}, impl={self.impl!r}"


def value_and_grads(module: CellModule, x, hx=None, timespans=None, grad_y=None, grad_h=None):
    """Run `module` and differentiate L = sum(grad_y * y) + sum(grad_h * h_T) by autograd.

    Arrays in and out are numpy (converted to the module's dtype); returns
    (y, h_T parts tuple, grads) with grads keyed "x", "h0" (tuple) and every canonical name.
    """
    kind = dict(dtype=module.dtype, device=next(module.parameters()).device)
    x_t = torch.tensor(np.asarray(x), **kind, requires_grad=True)
    batch = x_t.shape[0]
    parts = inputs.state_parts(module.spec, hx, batch)
    if parts is None:
        parts = tuple(
            np.zeros((batch, module.spec.state_size)) for _ in range(module.spec.state_arity)
        )
    h0 = tuple(torch.tensor(np.asarray(p), **kind, requires_grad=True) for p in parts)
    ts = None if timespans is None else torch.tensor(np.asarray(timespans), **kind)
    module.zero_grad(set_to_none=True)
    y, h_t = module(x_t, inputs.pack_state(module.spec, h0), ts)
    h_parts = (h_t,) if module.spec.state_arity == 1 else tuple(h_t)
    loss = torch.sum(y * torch.as_tensor(np.ones(y.shape) if grad_y is None else grad_y, **kind))
    if grad_h is not None:
        for g, part in zip(inputs.state_parts(module.spec, grad_h, batch), h_parts):
            loss = loss + torch.sum(part * torch.as_tensor(np.asarray(g), **kind))
    names = list(module.canonical())
    tensors = [x_t, *h0, *module.canonical().values()]
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    as_numpy = [
        np.zeros(t.shape) if g is None else g.detach().cpu().numpy() for g, t in zip(grads, tensors)
    ]
    result = {"x": as_numpy[0], "h0": tuple(as_numpy[1 : 1 + len(h0)])}
    result.update(zip(names, as_numpy[1 + len(h0) :]))
    numpy_state = tuple(p.detach().cpu().numpy() for p in h_parts)
    return y.detach().cpu().numpy(), numpy_state, result
