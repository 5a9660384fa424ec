"""The `cpp` implementation beyond the reference checks of test_parity: its build cache, its
errors, agreement with `fused` at sizes the parity cases do not reach (the kernels' vector and
remainder paths, many inputs, threads, sparse wiring, saturated synapses), and NaN
propagation."""

import os

import numpy as np
import pytest

import cells
from cells.wiring import AutoNCP

torch = pytest.importorskip("torch")
import cells.torch as ct  # noqa: E402
from cells.cpp import build as cpp_build  # noqa: E402

pytestmark = pytest.mark.skipif(
    cpp_build.unavailable() is not None, reason=str(cpp_build.unavailable())
)


def _run(impl, spec, params, x, ts=None, threads=2, dtype=torch.float32):
    """(y, v_T, gradients of sum(y * weights) by canonical name and 'x')."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module = ct.build(spec, params, impl, dtype=dtype)
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        tt = None if ts is None else torch.tensor(ts, dtype=dtype)
        y, v = module(xt, None, tt)
        weights = torch.linspace(-1, 1, y.numel(), dtype=dtype).reshape(y.shape)
        loss = (y * weights).sum() + v.square().sum()
        names = list(module.canonical())
        grads = torch.autograd.grad(loss, [xt, *module.canonical().values()], allow_unused=True)
        as_numpy = {
            n: np.zeros(1) if g is None else g.numpy() for n, g in zip(["x", *names], grads)
        }
        return y.detach().numpy(), v.detach().numpy(), as_numpy
    finally:
        torch.set_num_threads(previous)


def _relative(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


@pytest.mark.parametrize(
    "spec, with_ts",
    [
        (cells.get_spec("ltc", 48, 32), False),
        (cells.get_spec("ltc", 20, AutoNCP(24, 4), ode_unfolds=3), True),
        # vector tiles (H, U multiples of 16 and of 64) and blocks of four rows
        (cells.get_spec("cfc", 24, 64, backbone_units=128), False),
        (cells.get_spec("cfc", 24, 32, backbone_units=64, mode="no_gate"), True),
        # remainders: columns beyond the last vector, rows beyond the last block of four
        (cells.get_spec("cfc", 7, 24, backbone_units=40, backbone_activation="tanh"), True),
    ],
    ids=[
        "ltc-fully-connected-unit-steps",
        "ltc-ncp-wiring-timespans",
        "cfc-default",
        "cfc-no-gate-timespans",
        "cfc-odd-sizes-tanh",
    ],
)
def test_matches_fused_in_float32(spec, with_ts):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((11, 9, spec.input_size))
    ts = rng.uniform(0.5, 2.0, (11, 9)) if with_ts else None
    params = spec.random_params(2)
    y, v, grads = _run("cpp", spec, params, x, ts)
    y_ref, v_ref, grads_ref = _run("fused", spec, params, x, ts)
    assert _relative(y, y_ref) < 1e-5 and _relative(v, v_ref) < 1e-5
    for name, reference in grads_ref.items():
        assert _relative(grads[name], reference) < 1e-4, name


@pytest.mark.parametrize("cell", ["ltc", "cfc"])
def test_threads_split_rows_without_changing_outputs(cell):
    """Rows are independent: one or three threads give the same outputs bit for bit; only the
    order in which weight gradients are summed differs."""
    spec = cells.get_spec(cell, 16, 12) if cell == "ltc" else cells.get_spec(cell, 16, 32)
    x = np.random.default_rng(0).standard_normal((13, 5, 16))
    params = spec.random_params(0)
    one = _run("cpp", spec, params, x, threads=1)
    three = _run("cpp", spec, params, x, threads=3)
    np.testing.assert_array_equal(one[0], three[0])
    for name in one[2]:
        assert _relative(three[2][name], one[2][name]) < 1e-5, name


@pytest.mark.parametrize("cell", ["ltc", "cfc"])
def test_backward_twice_through_a_retained_graph(cell):
    """y.sum() hands the kernels an expanded (stride 0) gradient, which they read as a copy;
    a retained graph runs backward again from the same saved trace."""
    spec = cells.get_spec(cell, 5, 8)
    params = spec.random_params(0)
    x = torch.tensor(np.random.default_rng(2).standard_normal((3, 4, 5)), requires_grad=True)
    loss = ct.build(spec, params, "cpp", dtype=torch.float64)(x)[0].sum()
    (first,) = torch.autograd.grad(loss, x, retain_graph=True)
    (second,) = torch.autograd.grad(loss, x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    reference = ct.build(spec, params, "fused", dtype=torch.float64)(x)[0].sum()
    (expected,) = torch.autograd.grad(reference, x)
    np.testing.assert_allclose(first.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)


def test_saturated_synapses_match_fused():
    """Inputs of +-1e4 drive every sensory sigmoid to 0 or 1 (the exp's clamped range)."""
    spec = cells.get_spec("ltc", 6, 8)
    x = np.random.default_rng(1).choice([-1e4, 1e4], size=(3, 4, 6))
    params = spec.random_params(5)
    y, v, grads = _run("cpp", spec, params, x)
    y_ref, v_ref, grads_ref = _run("fused", spec, params, x)
    assert np.isfinite(y).all()
    assert _relative(y, y_ref) < 1e-5
    assert _relative(grads["w"], grads_ref["w"]) < 1e-4


@pytest.mark.parametrize("cell", ["ltc", "cfc"])
def test_nan_input_propagates(cell):
    spec = cells.get_spec(cell, 4, 6)
    x = np.zeros((2, 3, 4))
    x[1, 1, 2] = np.nan
    module = ct.build(spec, spec.random_params(0), "cpp", dtype=torch.float32)
    with torch.no_grad():
        y, _ = module(torch.tensor(x, dtype=torch.float32))
    assert np.isfinite(y[0].numpy()).all() and np.isfinite(y[1, 0].numpy()).all()
    assert np.isnan(y[1, 1:].numpy()).all()


def test_refuses_what_it_does_not_compute():
    with pytest.raises(NotImplementedError, match="cpp: mixed_memory"):
        ct.build(cells.get_spec("ltc", 3, 4, mixed_memory=True), impl="cpp")
    with pytest.raises(NotImplementedError, match="impl 'cpp' computes"):
        ct.build(cells.get_spec("lstm", 3, 4), impl="cpp")
    refused = {
        "cpp: backbone_layers=0": dict(backbone_layers=0),
        "cpp: backbone_activation 'relu'": dict(backbone_activation="relu"),
        "cpp: mode 'pure'": dict(mode="pure"),
    }
    for message, options in refused.items():
        with pytest.raises(NotImplementedError, match=message):
            ct.build(cells.get_spec("cfc", 3, 4, **options), impl="cpp")
    with pytest.raises(NotImplementedError, match="cpp: wired CfC"):
        ct.build(cells.get_spec("cfc", 3, AutoNCP(8, 2)), impl="cpp")
    module = ct.build(cells.get_spec("ltc", 3, 4), impl="cpp", dtype=torch.float16)
    with pytest.raises(NotImplementedError, match="float32 or float64 only"):
        module(torch.zeros(1, 2, 3, dtype=torch.float16))


def test_missing_compiler_is_named(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-anywhere")
    assert "no-such-compiler-anywhere" in cpp_build.unavailable()
    with pytest.raises(NotImplementedError, match="needs a C\\+\\+ compiler"):
        ct.build(cells.get_spec("ltc", 3, 4), impl="cpp")


def test_failing_compiler_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "false")
    monkeypatch.setenv("CELLBENCH_KERNEL_CACHE", str(tmp_path))
    with pytest.raises(cpp_build.BuildError, match="compiling ltc_sequence.cpp failed"):
        cpp_build.build("ltc_sequence")
    assert list(tmp_path.iterdir()) == []  # no partial library left behind


def test_build_is_cached_per_source_and_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("CELLBENCH_KERNEL_CACHE", str(tmp_path))
    first = cpp_build.build("ltc_sequence")
    assert first.parent == tmp_path and first.stat().st_size > 0
    stamp = first.stat().st_mtime_ns
    assert cpp_build.build("ltc_sequence") == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary files
    monkeypatch.setattr(cpp_build, "_cpu_identity", lambda: "another CPU")
    assert cpp_build.library_path("ltc_sequence") != first
    assert cpp_build.library_path("ltc_sequence", key="TF 9.9") != cpp_build.library_path(
        "ltc_sequence"
    )
    assert os.access(first, os.R_OK)


@pytest.mark.parametrize(
    "spec",
    [
        cells.get_spec("cfc", 24, 32, backbone_units=64),
        cells.get_spec("cfc", 7, 24, backbone_units=40, mode="no_gate"),
        cells.get_spec("ltc", 20, AutoNCP(24, 4), ode_unfolds=3),
    ],
    ids=["cfc", "cfc-no-gate-odd-sizes", "ltc-ncp-wiring"],
)
def test_tf_frontend_matches_torch_frontend_in_float32(spec):
    """The TF `cpp` layer (its weight folding, gate derivatives and LTC terms in TF) gives what
    the torch one gives, outputs and every gradient, at sizes that take the vector paths."""
    ctf = pytest.importorskip("cells.tf")
    from cells.tf.base import value_and_grads as tf_value_and_grads
    from cells.torch.base import value_and_grads as torch_value_and_grads

    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 7, spec.input_size))
    ts = rng.uniform(0.5, 2.0, (9, 7))
    params = spec.random_params(6)
    expected = torch_value_and_grads(ct.build(spec, params, "cpp"), x, timespans=ts)
    got = tf_value_and_grads(ctf.build(spec, params, "cpp", dtype="float32"), x, timespans=ts)
    assert _relative(got[0], expected[0]) < 1e-5
    for name, reference in expected[2].items():
        if name != "h0":
            assert _relative(got[2][name], reference) < 1e-4, name
    assert _relative(got[2]["h0"][0], expected[2]["h0"][0]) < 1e-4


def test_frontends_hand_the_kernels_aligned_arrays():
    """torch's frontend copies an array that does not start on a `kernels.ALIGNMENT` boundary
    (a slice can start anywhere) and passes aligned ones as they are; in both frameworks a
    sliced input gives the outputs a copy of it gives."""
    from cells.cpp import kernels
    from cells.torch.cpp_ltc import aligned

    base = torch.randn(4 * 9 * 24 + 3)
    shifted = base[3:].view(4, 9, 24)  # 12 bytes past the aligned start of `base`
    assert shifted.data_ptr() % kernels.ALIGNMENT != 0
    copy = aligned(shifted)
    assert copy.data_ptr() % kernels.ALIGNMENT == 0 and torch.equal(copy, shifted)
    assert aligned(base).data_ptr() == base.data_ptr()
    spec = cells.get_spec("cfc", 24, 32, backbone_units=64)
    module = ct.build(spec, spec.random_params(0), "cpp")
    with torch.no_grad():
        assert torch.equal(module(shifted)[0], module(shifted.clone())[0])

    # TF aligns its buffers itself (tf_ops.cc says how); a sliced input gives a copy's outputs
    ctf = pytest.importorskip("cells.tf")
    import tensorflow as tf

    layer = ctf.build(spec, spec.random_params(0), "cpp")
    sliced = tf.constant(base.numpy())[3:]
    x = tf.reshape(sliced, (4, 9, 24))
    np.testing.assert_array_equal(layer(x)[0].numpy(), layer(tf.identity(x) + 0)[0].numpy())


def test_tf_op_reads_batch_and_steps_at_run_time():
    """One traced graph with unknown batch and steps serves every shape (the op reads them from
    its operands), and gives what eager calls give."""
    ctf = pytest.importorskip("cells.tf")
    import tensorflow as tf

    for spec in (cells.get_spec("cfc", 24, 32, backbone_units=64),
                 cells.get_spec("ltc", 20, AutoNCP(24, 4), ode_unfolds=3)):  # fmt: skip
        layer = ctf.build(spec, spec.random_params(0), "cpp")
        signature = [tf.TensorSpec((None, None, spec.input_size))]
        run = tf.function(lambda x, layer=layer: layer(x)[0], input_signature=signature)
        rng = np.random.default_rng(1)
        for batch, steps in ((3, 5), (11, 2)):
            x = tf.constant(rng.standard_normal((batch, steps, spec.input_size)), tf.float32)
            np.testing.assert_allclose(run(x).numpy(), layer(x)[0].numpy(), rtol=1e-6, atol=1e-6)
        assert len(run._list_all_concrete_functions()) == 1


def test_tf_op_refuses_a_malformed_call():
    """The op names what is wrong with a call: an unknown entry point, argument counts that do
    not match it, a size or pointer it cannot read."""
    pytest.importorskip("cells.tf")
    import tensorflow as tf

    from cells.tf import cpp as tf_cpp

    x = tf.zeros((2, 3))

    def call(entry="synapses_forward", sizes=("@0.0", 3, 4), pointers=None):
        pointers = pointers or ["i0"] * 5 + ["o0", "o1"]
        return tf_cpp._kernel(entry, [x] * 5, list(sizes), [(2, 4), (2, 4)], pointers)

    with pytest.raises(tf.errors.InvalidArgumentError, match="no entry point 'nope'"):
        call(entry="nope")
    with pytest.raises(tf.errors.InvalidArgumentError, match="takes 3 sizes and 7 pointers"):
        call(sizes=(2, 3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="literal or '@operand.dim'"):
        call(sizes=("@x", 3, 4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="operand 0 has no dimension 5"):
        call(sizes=("@0.5", 3, 4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="a pointer is iN, oN or null"):
        call(pointers=["i0"] * 4 + ["i1x", "o0", "o1"])
