"""The `cpp` kernels' C entry points (`csrc/entry_points.h`), their argument types, and what they
compute. torch's frontends (`cells.torch.cpp_*`) call them through ctypes with data addresses;
TF's (`cells.tf.cpp`) through a TF op compiled with them (`csrc/tf_ops.cc`)."""

from __future__ import annotations

from ..cfc import SIGMOID_FORMS
from . import build

_S, _P, _I = build.SIZE, build.POINTER, build.INT
#: entry point -> (library, argument types); `csrc/<library>.cpp` documents each.
ENTRY_POINTS = {
    "cfc_forward": ("cfc_sequence", (_S,) * 6 + (_P,) * 8 + (_I,) + (_P,) * 3 + (_I,)),
    "cfc_backward": ("cfc_sequence", (_S,) * 5 + (_P,) * 8 + (_I,)),
    "synapses_forward": ("ltc_sequence", (_S,) * 3 + (_P,) * 7 + (_I,)),
    "synapses_backward": ("ltc_sequence", (_S,) * 3 + (_P,) * 12 + (_I,)),
    "ltc_forward": ("ltc_sequence", (_S,) * 4 + (_P,) * 11 + (_I,)),
    "ltc_backward": ("ltc_sequence", (_S,) * 4 + (_P,) * 20 + (_I,)),
}
#: dtype name -> symbol suffix: the kernels exist in float32 and float64.
SUFFIXES = {"float32": "f32", "float64": "f64"}
#: Byte alignment torch's frontends give every array they pass (TF's allocator already does):
#: the kernels' vector loads run about a third slower when their rows straddle cache lines
#: (measured on the CfC forward).
ALIGNMENT = 64
#: CfC mode -> the kernels' mode flag.
MODES = {"default": 0, "no_gate": 1}


def entry(name: str, dtype: str):
    """The C function `cb_<name>_<f32|f64>` for a dtype name ("float32", "float64")."""
    library, argtypes = ENTRY_POINTS[name]
    return build.function(library, f"cb_{name}_{SUFFIXES[dtype]}", argtypes)


def unsupported(spec, impl: str = "cpp") -> str | None:
    """Why the kernels cannot compute `spec` here (no compiler, or a spec outside them), or
    None. Cells other than CfC and LTC are the registry's to refuse."""
    reason = build.unavailable()
    if reason or spec.name not in ("cfc", "ltc"):
        return reason
    if spec.mixed_memory:
        return f"{impl}: mixed_memory is not supported; use impl='eager' (or 'compile')"
    if spec.name == "ltc":
        return None
    if spec.is_wired:
        return f"{impl}: wired CfC is not supported; use impl='eager' (or 'compile')"
    if spec.mode == "pure":
        return f"{impl}: mode 'pure' is not supported; use impl='eager' (or 'compile')"
    if spec.backbone_layers != 1:
        return f"{impl}: backbone_layers={spec.backbone_layers} is not supported (1); use 'fused'"
    if spec.backbone_activation not in SIGMOID_FORMS:
        return (
            f"{impl}: backbone_activation {spec.backbone_activation!r} is not supported "
            f"({sorted(SIGMOID_FORMS)}); use 'fused'"
        )
    return None
