"""The cells import and work with only one framework present, and a missing one gives an
ImportError that says what to install. Each check runs in a fresh interpreter in which the
other framework cannot be imported."""

import subprocess
import sys
import textwrap

import pytest

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
sys.meta_path.insert(0, Block())
"""


def run_python(blocked, body):
    code = BLOCK.format(blocked=set(blocked)) + textwrap.dedent(body)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_torch_alone():
    pytest.importorskip("torch")
    out = run_python(
        {"tensorflow", "keras"},
        """
        import numpy as np, torch, cells, cells.torch
        from cells import reference
        spec = cells.get_spec("ltc", 3, 5)
        p = spec.init_params(0)
        x = np.random.default_rng(0).standard_normal((2, 4, 3))
        y = cells.torch.build(spec, p, dtype=torch.float64)(torch.tensor(x))[0].detach().numpy()
        assert np.allclose(y, reference.run(spec, p, x)[0], rtol=1e-12)
        try:
            import cells.tf
        except ImportError as e:
            print("ImportError:", e)
    """,
    )
    assert (
        "cells.tf needs TensorFlow and Keras 3, which are not installed: "
        "pip install 'cellbench[tf]'" in out
    )


def test_tf_alone():
    pytest.importorskip("tensorflow")
    out = run_python(
        {"torch"},
        """
        import numpy as np, cells, cells.tf
        from cells import reference
        spec = cells.get_spec("cfc", 3, 5, mode="no_gate")
        p = spec.init_params(0)
        x = np.random.default_rng(0).standard_normal((2, 4, 3))
        y = cells.tf.build(spec, p, dtype="float64")(x)[0].numpy()
        assert np.allclose(y, reference.run(spec, p, x)[0], rtol=1e-12)
        try:
            import cells.torch
        except ImportError as e:
            print("ImportError:", e)
    """,
    )
    assert (
        "cells.torch needs PyTorch, which is not installed: pip install 'cellbench[torch]'" in out
    )


def test_neither_framework():
    out = run_python(
        {"torch", "tensorflow", "keras"},
        """
        import numpy as np, cells
        spec = cells.get_spec("gru", 2, 3)
        y, h = cells.reference.run(spec, spec.init_params(0), np.ones((1, 2, 2)))
        print(y.shape)
    """,
    )
    assert "(1, 2, 3)" in out
