"""Order of the kernel suite: every workload and pair that runs only torch (ncps included)
before the first one that touches TF. TF's thread pools, once started, compete with torch's
OpenMP threads and distort torch timings on a small machine (test_kernels.py's docstring)."""


def _touches_tf(item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "pair" in params:
        return "tf" in params["pair"].backends
    return params.get("backend") == "tf"


def pytest_collection_modifyitems(session, config, items):
    # a stable sort: each group keeps test_kernels.py's order
    items.sort(key=_touches_tf)
