"""Connecting the sweep driver to Ray: a local instance by default, or an existing cluster.

Every failure here is reported before any run is scheduled: an address nobody answers on, an
`auto` with no cluster running, or resources per run that no node of the cluster has.
"""

from __future__ import annotations

import os
import socket

from .grid import Resources

LOCAL_OBJECT_STORE = 512 * 2**20  # runs hand back their files (MBs), not datasets


class SweepError(RuntimeError):
    """A sweep that cannot start; the message names the argument and what was wrong."""


def _reachable(address: str, option: str = "--address") -> None:
    """Fail fast (5 s) when nothing listens at host:port; Ray itself would retry for a minute."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"{option}: expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT', "
                         f"got {address!r}")  # fmt: skip
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as error:
        raise SweepError(f"{option}: cannot reach {host}:{port} ({error}); is the Ray head "
                         "running there (`ray start --head`)?") from None  # fmt: skip


def connect(address: str | None) -> None:
    """Connect to Ray (the caller calls `ray.shutdown()` when done).

    Args:
        address: None starts Ray on this machine with all its cores; "auto" joins the cluster
            this machine belongs to; "HOST:PORT" a cluster's head (GCS port) and
            "ray://HOST:PORT" a Ray Client server.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report over the network
    try:
        import ray
    except ImportError:
        raise SweepError("cellbench sweep needs Ray: pip install 'cellbench[sweep]' (on every "
                         "node of a cluster)") from None  # fmt: skip

    if address is not None and address != "auto":
        _reachable(address)
    try:
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False,
                     object_store_memory=LOCAL_OBJECT_STORE, configure_logging=False)  # fmt: skip
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except ConnectionError as error:
        raise SweepError(
            f"--address {address}: no Ray cluster found ({error}); start one with "
            "`ray start --head`, or leave --address out to run locally"
        ) from None


def check_feasible(resources: Resources) -> None:
    """Refuse resources per run that no alive node offers (they would wait forever)."""
    import ray

    demands = resources.demands()
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    if any(all(node.get(key, 0) >= amount for key, amount in demands.items()) for node in nodes):
        return
    offered = [{key: node.get(key, 0) for key in demands} for node in nodes]
    raise SweepError(f"--resources: each run asks for {demands}, and no node of the cluster "
                     f"has that much (its nodes offer {offered})")  # fmt: skip
