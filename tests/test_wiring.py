"""Tests for cells.wiring: bit-exact agreement with ncps's wirings, plus our own API contract."""

import dataclasses
import json

import numpy as np
import pytest

from cells.wiring import (
    NCP,
    AutoNCP,
    FullyConnected,
    Random,
    Wiring,
    build_wiring,
    wiring_from_config,
)

SEEDS = [0, 7, 1111]
INPUT_DIMS = [1, 5]


# ---------------------------------------------------------------------------- agreement with ncps


@pytest.fixture(scope="module")
def ncps_wirings():
    return pytest.importorskip("ncps").wirings


def assert_same_as_ncps(ours, theirs, input_dim):
    """Build both and compare every built artefact; `ours` is a config, `theirs` an ncps Wiring."""
    theirs.build(input_dim)
    built = ours.build(input_dim)
    np.testing.assert_array_equal(built.adjacency_matrix, theirs.adjacency_matrix)
    np.testing.assert_array_equal(built.sensory_adjacency_matrix, theirs.sensory_adjacency_matrix)
    assert built.adjacency_matrix.dtype == np.int32
    assert built.sensory_adjacency_matrix.shape == (input_dim, theirs.units)
    assert built.units == ours.total_units == theirs.units
    assert built.input_dim == theirs.input_dim == input_dim
    assert built.output_dim == ours.motor_size == theirs.output_dim
    assert built.num_layers == theirs.num_layers
    their_layers = tuple(
        tuple(int(n) for n in theirs.get_neurons_of_layer(i)) for i in range(theirs.num_layers)
    )
    assert built.layers == their_layers
    assert built.synapse_count == int(theirs.synapse_count)
    assert built.sensory_synapse_count == int(theirs.sensory_synapse_count)
    return built


@pytest.mark.parametrize("input_dim", INPUT_DIMS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("output_dim", [None, 1])
@pytest.mark.parametrize("self_connections", [True, False])
@pytest.mark.parametrize("units", [1, 3, 8])
def test_fully_connected_matches_ncps(
    ncps_wirings, units, self_connections, output_dim, seed, input_dim
):
    ours = FullyConnected(units, output_dim, erev_init_seed=seed, self_connections=self_connections)
    theirs = ncps_wirings.FullyConnected(units, output_dim, seed, self_connections)
    built = assert_same_as_ncps(ours, theirs, input_dim)
    diagonal = np.diag(built.adjacency_matrix)
    assert (diagonal != 0).all() if self_connections else (diagonal == 0).all()


@pytest.mark.parametrize("input_dim", INPUT_DIMS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("output_dim", [None, 2])
@pytest.mark.parametrize("units", [2, 6, 16])
def test_random_matches_ncps(ncps_wirings, units, output_dim, sparsity, seed, input_dim):
    ours = Random(units, output_dim, sparsity_level=sparsity, random_seed=seed)
    theirs = ncps_wirings.Random(units, output_dim, sparsity, seed)
    built = assert_same_as_ncps(ours, theirs, input_dim)
    assert built.synapse_count == int(np.round(units * units * (1 - sparsity)))


NCP_ARGS = [
    # inter, command, motor, sensory_fanout, inter_fanout, recurrent, motor_fanin
    (5, 3, 2, 2, 2, 1, 2),
    (10, 4, 2, 3, 2, 3, 2),
    (3, 8, 4, 3, 8, 5, 8),
    (12, 6, 1, 1, 1, 0, 6),
    # Many inter, few command neurons: the inter->command repair fan-in hits ncps's cap of
    # n_command (not n_inter); seeds 12 and 76 are ones where that cap changes the matrix.
    (20, 4, 2, 2, 1, 1, 1),
]


@pytest.mark.parametrize("input_dim", [1, 4, 9])
@pytest.mark.parametrize("seed", [0, 12, 76, 22222])
@pytest.mark.parametrize("args", NCP_ARGS)
def test_ncp_matches_ncps(ncps_wirings, args, seed, input_dim):
    theirs = ncps_wirings.NCP(*args, seed=seed)
    built = assert_same_as_ncps(NCP(*args, seed=seed), theirs, input_dim)
    inter, command, motor = args[:3]
    assert [len(layer) for layer in built.layers] == [inter, command, motor]
    assert built.layers[2] == tuple(range(motor))  # motor neurons come first


@pytest.mark.parametrize("input_dim", INPUT_DIMS)
@pytest.mark.parametrize("seed", [3, 22222])
@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("output_size", [1, 3])
@pytest.mark.parametrize("units", [8, 12, 20, 33, 64])
def test_auto_ncp_matches_ncps(ncps_wirings, units, output_size, sparsity, seed, input_dim):
    ours = AutoNCP(units, output_size, sparsity_level=sparsity, seed=seed)
    theirs = ncps_wirings.AutoNCP(units, output_size, sparsity, seed)
    built = assert_same_as_ncps(ours, theirs, input_dim)
    assert built.num_layers == 3
    assert (
        built.description == f"AutoNCP(units={units}, output_size={output_size}, "
        f"sparsity_level={sparsity}, seed={seed})"
    )


def test_auto_ncp_sparsity_one_is_accepted_like_ncps(ncps_wirings):
    # ncps's error message claims 0.0..0.9 but its check lets 1.0 through (fan-outs clamp to 1).
    assert_same_as_ncps(AutoNCP(16, 4, 1.0), ncps_wirings.AutoNCP(16, 4, 1.0), 3)


def test_auto_ncp_equals_its_explicit_ncp():
    auto = AutoNCP(28, 4, 0.5, seed=5)
    ncp = auto.to_ncp()
    assert (ncp.inter_neurons, ncp.command_neurons, ncp.motor_neurons) == (15, 9, 4)
    assert auto.build(3) == ncp.build(3)
    assert auto.build(3).description != ncp.build(3).description


def test_seed_changes_the_wiring():
    assert AutoNCP(20, 3, seed=1).build(4) != AutoNCP(20, 3, seed=2).build(4)
    assert Random(6, sparsity_level=0.5, random_seed=1).build(2) != Random(
        6, sparsity_level=0.5, random_seed=2
    ).build(2)


# ---------------------------------------------------------------------------- config round trips

CONFIGS = [
    FullyConnected(4),
    FullyConnected(5, output_dim=2, erev_init_seed=3, self_connections=False),
    Random(6, output_dim=3, sparsity_level=0.5, random_seed=9),
    NCP(5, 3, 2, 2, 2, 1, 2, seed=4),
    AutoNCP(20, 4, sparsity_level=0.3, seed=8),
]
KINDS = ["fully_connected", "fully_connected", "random", "ncp", "auto_ncp"]


@pytest.mark.parametrize(("config", "kind"), list(zip(CONFIGS, KINDS, strict=True)))
def test_config_round_trip_through_json(config, kind):
    d = json.loads(json.dumps(config.to_config()))
    assert d["kind"] == kind
    assert {k for k in d if k != "kind"} == {f.name for f in dataclasses.fields(config)}
    restored = wiring_from_config(d)
    assert type(restored) is type(config) and restored == config
    assert build_wiring(d, 3) == config.build(3)


@pytest.mark.parametrize("config", CONFIGS)
def test_built_wiring_round_trip_through_json(config):
    built = config.build(4)
    d = json.loads(json.dumps(built.to_config()))
    restored = wiring_from_config(d)
    assert isinstance(restored, Wiring) and restored == built
    assert restored.layers == built.layers and restored.description == built.description
    assert Wiring.from_config(d) == built
    np.testing.assert_array_equal(restored.sensory_adjacency_matrix, built.sensory_adjacency_matrix)


def test_configs_are_frozen_and_normalised():
    config = Random(np.int64(6), sparsity_level=0, random_seed=np.int64(2))
    assert type(config.units) is int and type(config.sparsity_level) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.units = 3
    # numpy ints would make json.dumps raise
    assert json.loads(json.dumps(config.to_config()))["units"] == 6


# ---------------------------------------------------------------------------- Wiring contract


def test_matrices_are_read_only():
    built = AutoNCP(12, 2).build(3)
    for matrix in (built.adjacency_matrix, built.sensory_adjacency_matrix):
        assert not matrix.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            matrix[0, 0] = 1
    with pytest.raises(AttributeError):
        built.output_dim = 1


def test_from_matrices_copies_its_input():
    adj = np.array([[0, 1], [-1, 1]])
    sens = np.array([[1, 0]])
    wiring = Wiring.from_matrices(adj, sens, output_dim=1)
    adj[0, 0] = 1
    assert wiring.adjacency_matrix[0, 0] == 0
    assert wiring.adjacency_matrix.dtype == np.int32
    assert wiring.layers == ((0, 1),) and wiring.description == "explicit"
    assert (wiring.synapse_count, wiring.sensory_synapse_count) == (3, 1)


def test_hash_and_equality_are_by_content():
    a = FullyConnected(4, erev_init_seed=1).build(2)
    # Same content built another way (a distinct object, other description) is equal.
    explicit = Wiring.from_matrices(a.adjacency_matrix.copy(), a.sensory_adjacency_matrix, 4)
    assert explicit is not a and explicit.description == "explicit"
    assert explicit == a and hash(explicit) == hash(a)
    assert len({a, explicit, Wiring.from_config(a.to_config())}) == 1
    # Any difference in content breaks equality.
    flipped = a.adjacency_matrix.copy()
    flipped[0, 0] *= -1
    assert Wiring.from_matrices(flipped, a.sensory_adjacency_matrix, 4) != a
    assert Wiring.from_matrices(a.adjacency_matrix, a.sensory_adjacency_matrix, 3) != a
    split = Wiring.from_matrices(
        a.adjacency_matrix, a.sensory_adjacency_matrix, 4, layers=[[2, 3], [0, 1]]
    )
    assert split != a and split.num_layers == 2
    assert FullyConnected(4, erev_init_seed=1).build(3) != a
    assert a != "not a wiring"


def test_wiring_can_live_in_a_frozen_dataclass():
    @dataclasses.dataclass(frozen=True)
    class Cell:
        wiring: Wiring
        hidden: int

    one = Cell(AutoNCP(10, 2).build(3), 8)
    two = Cell(AutoNCP(10, 2).build(3), 8)
    assert one == two and hash(one) == hash(two)
    assert Cell(AutoNCP(10, 2, seed=1).build(3), 8) != one


def test_build_wiring_accepts_configs_wirings_and_dicts():
    config = NCP(5, 3, 2, 2, 2, 1, 2)
    built = config.build(4)
    assert build_wiring(config, 4) == built
    assert build_wiring(built, 4) is built
    assert build_wiring(built.to_config(), 4) == built
    assert build_wiring(config.to_config(), 4) == built


def test_build_wiring_rejects_mismatched_input_dim():
    built = Random(5, sparsity_level=0.5).build(3)
    with pytest.raises(ValueError, match=r"input_dim: expected 3 .* got 4"):
        build_wiring(built, 4)
    with pytest.raises(ValueError, match="input_dim"):
        build_wiring(built.to_config(), 2)
    with pytest.raises(ValueError, match="config_or_wiring"):
        build_wiring([1, 2, 3], 3)


# ---------------------------------------------------------------------------- validation

BAD_CONFIGS = [
    (lambda: FullyConnected(0), r"units: expected an int >= 1"),
    (lambda: FullyConnected(3.0), "units: expected an int"),
    (lambda: FullyConnected(True), "units: expected an int"),
    (lambda: FullyConnected(3, output_dim=4), r"output_dim: .*<= 3, got 4"),
    (lambda: FullyConnected(3, erev_init_seed=-1), "erev_init_seed"),
    (lambda: FullyConnected(3, self_connections=1), "self_connections: expected a bool"),
    (lambda: Random(3, sparsity_level=1.2), r"sparsity_level: expected a value in \[0, 1\)"),
    (lambda: Random(3, sparsity_level=1.0), "sparsity_level"),
    (lambda: Random(3, sparsity_level=-0.1), "sparsity_level"),
    (lambda: Random(3, sparsity_level="0.5"), "sparsity_level"),
    (lambda: Random(3, random_seed=1.5), "random_seed: expected an int"),
    (lambda: NCP(0, 3, 2, 1, 1, 1, 1), "inter_neurons"),
    (lambda: NCP(5, 3, 2, 6, 2, 1, 2), r"sensory_fanout: .*<= 5, got 6"),
    (lambda: NCP(5, 3, 2, 2, 4, 1, 2), r"inter_fanout: .*<= 3, got 4"),
    (lambda: NCP(5, 3, 2, 2, 2, 1, 4), r"motor_fanin: .*<= 3, got 4"),
    (lambda: NCP(5, 3, 2, 2, 2, -1, 2), "recurrent_command_synapses"),
    (lambda: NCP(5, 3, 2, 2, 2, 1, 2, seed=2**32), "seed"),
    (lambda: AutoNCP(10, 8), r"output_size: .*<= 7, got 8"),
    (lambda: AutoNCP(10, 0), "output_size"),
    (lambda: AutoNCP(2, 1), "units"),
    (lambda: AutoNCP(10, 2, sparsity_level=0.05), r"sparsity_level: .*\[0.1, 1.0\]"),
    (lambda: AutoNCP(10, 2, sparsity_level=1.5), "sparsity_level"),
    (lambda: AutoNCP(10, 2).build(0), "input_dim"),
    (lambda: AutoNCP(10, 2).build(2.0), "input_dim"),
]


@pytest.mark.parametrize(("make", "match"), BAD_CONFIGS)
def test_bad_config_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


GOOD_ADJ = np.array([[0, 1, 0], [-1, 0, 1], [1, 1, 0]])
GOOD_SENS = np.array([[1, 0, -1]])
BAD_MATRICES = [
    ({"adjacency": np.zeros((2, 3))}, "adjacency: expected a square matrix"),
    ({"adjacency": np.zeros(3)}, "adjacency: expected a 2-D"),
    ({"adjacency": GOOD_ADJ * 2}, r"adjacency: expected entries in \{-1, 0, 1\}"),
    ({"adjacency": GOOD_ADJ * 0.5}, "adjacency: expected entries"),
    ({"sensory_adjacency": np.zeros((1, 2))}, r"sensory_adjacency: expected shape"),
    ({"sensory_adjacency": np.zeros((0, 3))}, "sensory_adjacency"),
    ({"sensory_adjacency": [["a", "b", "c"]]}, "sensory_adjacency: expected a 2-D numeric"),
    ({"output_dim": 4}, r"output_dim: .*<= 3, got 4"),
    ({"output_dim": 0}, "output_dim"),
    ({"layers": [[0, 1]]}, "layers: expected non-empty layers that partition"),
    ({"layers": [[0, 1, 2], []]}, "layers"),
    ({"layers": [[0, 1], [1, 2]]}, "layers"),
    ({"layers": [[0, 1, 5]]}, r"layers: .*<= 2, got 5"),
    ({"layers": [0, 1, 2]}, "layers: expected sequences"),
    ({"description": 3}, "description"),
]


@pytest.mark.parametrize(("override", "match"), BAD_MATRICES)
def test_from_matrices_validates(override, match):
    kwargs = {"adjacency": GOOD_ADJ, "sensory_adjacency": GOOD_SENS, "output_dim": 1, **override}
    with pytest.raises(ValueError, match=match):
        Wiring.from_matrices(**kwargs)


def test_from_matrices_accepts_the_good_baseline():
    # Guards the table above: each case must fail because of its override, not the baseline.
    wiring = Wiring.from_matrices(GOOD_ADJ, GOOD_SENS, 1, layers=[[2], [1], [0]])
    assert wiring.layers == ((2,), (1,), (0,)) and wiring.input_dim == 1


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"units": 3}, "'kind'"),
        ({"kind": "lstm", "units": 3}, "kind: expected one of"),
        ({"kind": "random", "units": 3, "density": 0.5}, "config: not a valid 'random'"),
        ({"kind": "ncp", "inter_neurons": 3}, "config: not a valid 'ncp'"),
        ({"kind": "wiring", "adjacency": [[0]]}, "config: not a Wiring config"),
        ({"kind": "auto_ncp", "units": 10, "output_size": 9}, "output_size"),
    ],
)
def test_wiring_from_config_rejects_bad_dicts(config, match):
    with pytest.raises(ValueError, match=match):
        wiring_from_config(config)


def test_every_kind_is_covered():
    # If a wiring kind is added, CONFIGS above must grow with it.
    kinds = {wiring_from_config(c.to_config()).to_config()["kind"] for c in CONFIGS}
    assert kinds == {"fully_connected", "random", "ncp", "auto_ncp"}
