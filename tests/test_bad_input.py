"""Bad input gets a ValueError (or ImportError) naming the argument, the expected and the
actual value, from the reference and from both backends alike."""

import numpy as np
import pytest

import cells
from cells import reference

SPEC = cells.get_spec("cfc", 3, 4, backbone_units=8)
LSTM = cells.get_spec("lstm", 3, 4)
GOOD_X = np.zeros((2, 5, 3))


def runners():
    """(label, run(spec, params, x, hx, timespans)) for the reference and installed backends."""
    found = [("reference", lambda s, p, x, hx=None, ts=None: reference.run(s, p, x, hx, ts))]
    try:
        import torch

        import cells.torch as ct

        def run_torch(s, p, x, hx=None, ts=None):
            as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
            if isinstance(hx, tuple):
                hx = tuple(as_t(h) for h in hx)
            elif hx is not None:
                hx = as_t(hx)
            return ct.build(s, p, dtype=torch.float64)(
                as_t(x), hx, None if ts is None else as_t(ts)
            )

        found.append(("torch", run_torch))
    except ImportError:
        pass
    try:
        import cells.tf as ctf

        found.append(
            ("tf", lambda s, p, x, hx=None, ts=None: ctf.build(s, p, dtype="float64")(x, hx, ts))
        )
    except ImportError:
        pass
    return found


RUNNERS = runners()


@pytest.mark.parametrize("label, run", RUNNERS, ids=[r[0] for r in RUNNERS])
@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((5, 3)), r"x: expected a rank-3 tensor \(batch, time, 3\), got shape \(5, 3\)"),
        (np.zeros((2, 5, 4)), r"x: expected 3 features in the last axis, got shape \(2, 5, 4\)"),
    ],
)
def test_wrong_input_shape(label, run, x, message):
    with pytest.raises(ValueError, match=message):
        run(SPEC, SPEC.init_params(0), x)


@pytest.mark.parametrize("label, run", RUNNERS, ids=[r[0] for r in RUNNERS])
@pytest.mark.parametrize(
    "ts, message",
    [
        (-np.ones((2, 5)), r"timespans: expected values > 0, got minimum -1.0"),
        (np.zeros((2, 5)), r"timespans: expected values > 0, got minimum 0.0"),
        (np.full((2, 5), np.nan), r"timespans: expected finite values > 0, got NaN or inf"),
        (np.ones((2, 4)), r"timespans: expected shape \(2, 5\) or \(2, 5, 1\), got \(2, 4\)"),
    ],
)
def test_bad_timespans(label, run, ts, message):
    with pytest.raises(ValueError, match=message):
        run(SPEC, SPEC.init_params(0), GOOD_X, None, ts)


@pytest.mark.parametrize("label, run", RUNNERS, ids=[r[0] for r in RUNNERS])
def test_bad_initial_state(label, run):
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 4\), got \(2, 5\)"):
        run(SPEC, SPEC.init_params(0), GOOD_X, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"hx: lstm has the state \(h, c\); expected a pair"):
        run(LSTM, LSTM.init_params(0), GOOD_X, np.zeros((2, 4)))


@pytest.mark.parametrize("label, run", RUNNERS, ids=[r[0] for r in RUNNERS])
def test_mismatched_parameters(label, run):
    params = SPEC.init_params(0)
    wrong_shape = {**params, "ff1_kernel": np.zeros((3, 4))}
    with pytest.raises(
        ValueError, match=r"params\['ff1_kernel'\]: expected shape \(8, 4\), got \(3, 4\)"
    ):
        run(SPEC, wrong_shape, GOOD_X)
    missing = {k: v for k, v in params.items() if k != "time_a_bias"}
    with pytest.raises(ValueError, match=r"missing \['time_a_bias'\] and unexpected \[\]"):
        run(SPEC, missing, GOOD_X)
    with pytest.raises(ValueError, match=r"unexpected \['bogus'\]"):
        run(SPEC, {**params, "bogus": np.zeros(1)}, GOOD_X)
    with pytest.raises(ValueError, match=r"params\['ff1_bias'\]: expected finite values"):
        run(SPEC, {**params, "ff1_bias": np.full(4, np.nan)}, GOOD_X)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: cells.get_spec("rnn", 3, 4),
            r"name: expected one of \['cfc', 'ltc', 'lstm', 'gru'\], got 'rnn'",
        ),
        (
            lambda: cells.get_spec("cfc", 3, 4, mode="fast"),
            r"mode: expected one of .*'pure'.*got 'fast'",
        ),
        (
            lambda: cells.get_spec("cfc", 3, 4, backbone_activation="swish"),
            r"backbone_activation: .*got 'swish'",
        ),
        (
            lambda: cells.get_spec("cfc", 3, 4, backbone_dropout=1.5),
            r"backbone_dropout: expected a rate in \[0, 1\), got 1.5",
        ),
        (
            lambda: cells.get_spec("lstm", 3, 4, mode="pure"),
            r"hparams: lstm accepts no hyper-parameters, got \['mode'\]",
        ),
        (lambda: cells.get_spec("ltc", 3, 0), r"units: expected a positive integer, got 0"),
        (
            lambda: cells.get_spec("ltc", 3, 4, ode_unfolds=0),
            r"ode_unfolds: expected a positive integer, got 0",
        ),
        (
            lambda: cells.get_spec("ltc", 3, 4, input_mapping="log"),
            r"input_mapping: expected one of .*got 'log'",
        ),
        (
            lambda: cells.get_spec("ltc", 3, 4, epsilon=-1.0),
            r"epsilon: expected a finite number >= 0, got -1.0",
        ),
        (
            lambda: cells.get_spec("cfc", 3, cells.wiring.AutoNCP(8, 2), backbone_units=64),
            r"backbone_units: a wired CfC has no backbone, so expected 0 or None, got 64",
        ),
        (
            lambda: cells.get_spec("ltc", 3, 5, wiring=cells.wiring.AutoNCP(8, 2)),
            r"units: expected the wiring's 8 neurons, got 5",
        ),
        (
            lambda: cells.get_spec("gru", 3, cells.wiring.AutoNCP(8, 2)),
            r"units: gru takes an integer unit count",
        ),
    ],
)
def test_bad_specs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_reference_rejects_non_finite_inputs():
    x = GOOD_X.copy()
    x[0, 1, 2] = np.inf
    with pytest.raises(ValueError, match="x: expected finite values, got NaN or inf"):
        reference.run(SPEC, SPEC.init_params(0), x)


def test_torch_rejects_a_dtype_mismatch():
    torch = pytest.importorskip("torch")
    import cells.torch as ct

    module = ct.build(SPEC, dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"x: expected dtype torch.float64 \(the module's\), got torch.float32"
    ):
        module(torch.zeros(2, 5, 3))
