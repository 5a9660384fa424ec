"""Atari: env factory, dataset generation (resume, determinism), loaders, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from bench.atari import sequences  # noqa: E402
from bench.atari.envs import make_env, make_vector_env  # noqa: E402
from bench.atari.settings import AtariSettings, env_id, rom_id  # noqa: E402

DETERMINISTIC = {"sticky": 0.0, "noop_max": 0}


# ------------------------------------------------------------------------------------ envs
@pytest.mark.parametrize("game, actions", [("breakout", 4), ("Pong", 6), ("KungFuMaster", 14)])
def test_single_env_observations(game, actions):
    env = make_env(AtariSettings(game))
    obs, info = env.reset(seed=0)
    assert obs.shape == (84, 84, 4) and obs.dtype == np.uint8
    assert env.observation_space.shape == (84, 84, 4) and env.action_space.n == actions
    obs, reward, terminated, truncated, info = env.step(0)
    assert obs.shape == (84, 84, 4) and obs.dtype == np.uint8 and "lives" in info
    env.close()


def test_vector_env_observations():
    envs = make_vector_env(AtariSettings("breakout"), num_envs=3)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 84, 84, 4) and obs.dtype == np.uint8
    assert envs.single_observation_space.shape == (84, 84, 4)
    obs, rewards, terminated, truncated, _ = envs.step(np.zeros(3, dtype=np.int64))
    assert obs.shape == (3, 84, 84, 4) and rewards.shape == (3,)
    envs.close()


@pytest.mark.parametrize("game", ["breakout", "pong"])
def test_single_and_vector_envs_give_the_same_frames(game):
    """Without sticky actions and no-op starts both are deterministic: identical observations."""
    settings = AtariSettings(game, **DETERMINISTIC)
    env, envs = make_env(settings), make_vector_env(settings, 1)
    obs, _ = env.reset(seed=3)
    batch, _ = envs.reset(seed=3)
    np.testing.assert_array_equal(obs, batch[0])
    for t in range(120):
        action = (t // 5) % env.action_space.n
        obs, reward, *_ = env.step(action)
        batch, rewards, *_ = envs.step(np.array([action]))
        np.testing.assert_array_equal(obs, batch[0])
        assert reward == rewards[0]
    env.close()
    envs.close()


def test_game_names_and_bad_settings():
    assert rom_id("KungFuMaster") == "kung_fu_master" == rom_id("kung_fu_master")
    assert env_id("kung_fu_master") == "ALE/KungFuMaster-v5"
    with pytest.raises(ValueError, match="game: 'breakoutt' is not an ALE game"):
        AtariSettings("breakoutt")
    with pytest.raises(ValueError, match="sticky: expected a probability"):
        AtariSettings(sticky=1.5)
    with pytest.raises(ValueError, match="noop_max"):
        AtariSettings(noop_max=-1)
    with pytest.raises(ValueError, match="num_envs"):
        make_vector_env(AtariSettings(), 0)
    settings = AtariSettings("pong", sticky=0.1, episodic_life=True)
    assert AtariSettings.from_dict(settings.as_dict()) == settings


# ---------------------------------------------------------------------------- the dataset
TINY = {"train": 3, "val": 2, "seed": 5, "shard_size": 2, "progress_bar": False}


def _generate(directory, num_envs=1, **changes):
    from bench.atari.generate import generate

    return generate(directory, AtariSettings("breakout"), num_envs=num_envs, **{**TINY, **changes})


def _contents(directory):
    out = {}
    for split in sequences.SPLITS:
        for path in sequences.list_split(directory, split):
            out[path.name] = sequences.load_sequence(path)
    return out


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny")
    return directory, _generate(directory)


def test_generation_writes_files_and_manifest(tiny):
    directory, manifest = tiny
    assert [p.name for p in sequences.list_split(directory, "train")] == [
        "train_000000.npz", "train_000001.npz", "train_000002.npz",
    ]  # fmt: skip
    assert len(sequences.list_split(directory, "val")) == 2
    obs, actions = sequences.load_sequence(directory / "train_000000.npz")
    assert obs.shape == (32, 84, 84, 4) and obs.dtype == np.uint8 and obs.any()
    assert actions.dtype == np.int64 and set(actions) <= {0, 1, 2, 3}
    on_disk = json.loads((directory / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert manifest["game"] == "breakout" and manifest["num_actions"] == 4
    assert manifest["counts"] == {"train": 3, "val": 2} and manifest["seed"] == 5
    assert manifest["settings"]["sticky"] == 0.25 and manifest["expert"] == "BreakoutExpert"
    assert manifest["this_run"]["frames_per_second"] > 0
    assert manifest["machine"]["ale-py"]
    report = sequences.check_directory(directory, progress_bar=False)
    assert report["problems"] == [] and report["counts"] == {"train": 3, "val": 2}


def test_scoring_stores_full_games_of_the_expert_in_the_manifest(tiny, tmp_path, capsys):
    import shutil

    from bench.atari.generate import expert_mean, score_expert
    from bench.cli import main

    directory = tmp_path / "scored"
    shutil.copytree(tiny[0], directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert expert_mean(manifest) is None
    # games cut at 400 frames (100 agent steps) keep the test short; the cut is a setting
    manifest["settings"]["max_episode_frames"] = 400
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert main(["dataset", "score", str(directory), "--episodes", "3", "--seed", "1",
                 "--num-envs", "1"]) == 0  # fmt: skip
    assert "over 3 games; stored in" in capsys.readouterr().out
    score = json.loads((directory / "manifest.json").read_text())["expert_score"]
    assert score["episodes"] == 3 and len(score["all"]) == 3 and score["seed"] == 1
    assert score["expert_draws"] == "fixed"  # the dataset's expert, whatever the games' seed
    assert all(0 < n <= 100 for n in score["lengths"]), score["lengths"]
    on_disk = json.loads((directory / "manifest.json").read_text())
    assert on_disk["expert_score"] == score and expert_mean(on_disk) == score["mean"]
    assert {k: v for k, v in on_disk.items() if k != "expert_score"} == manifest
    _generate(directory)  # completing (here: re-finishing) the dataset keeps the score
    assert json.loads((directory / "manifest.json").read_text())["expert_score"] == score
    with pytest.raises(FileNotFoundError, match="holds no dataset manifest"):
        score_expert(tmp_path / "nothing", episodes=1)
    assert main(["dataset", "score", str(tmp_path / "nothing")]) == 2


def test_generation_is_deterministic_and_resumes_after_an_interruption(tiny, tmp_path):
    """Interrupted after two new files, the same command completes the rest; the result is
    identical to the uninterrupted run, also with two envs in processes."""
    directory, _ = tiny
    new_files = []

    def interrupt(new):
        new_files.append(new)
        if sum(new_files) == 2:
            raise KeyboardInterrupt

    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        _generate(resumed, on_sequence=interrupt)
    kept = {p.name: p.stat().st_mtime_ns for p in resumed.glob("*.npz")}
    assert len(kept) == 2 and not list(resumed.glob(".*.tmp"))
    _generate(resumed)
    for name, mtime in kept.items():  # finished files were kept, not rewritten
        assert (resumed / name).stat().st_mtime_ns == mtime
    _assert_same(_contents(resumed), _contents(directory))
    parallel = tmp_path / "parallel"
    _generate(parallel, num_envs=2)
    _assert_same(_contents(parallel), _contents(directory))


def test_a_dataset_grows_in_place_to_what_a_larger_run_would_have_written(tiny, tmp_path):
    """1 training sequence (half a shard), then 3 with the same seed into the same folder: the
    new shards are played, the half shard completed, the old file kept, and the result is the
    3-sequence dataset generated at once."""
    directory, _ = tiny
    grown = tmp_path / "grown"
    assert _generate(grown, train=1)["counts"]["train"] == 1
    first = sequences.list_split(grown, "train")[0]
    mtime = first.stat().st_mtime_ns
    assert _generate(grown)["counts"]["train"] == 3
    assert first.stat().st_mtime_ns == mtime
    _assert_same(_contents(grown), _contents(directory))


def test_a_second_generation_into_a_folder_being_written_is_refused(tmp_path, capsys):
    """While one job writes a dataset folder another is refused at once, naming the holder;
    the kernel drops the lock of a job that is killed, so the folder is free again after."""
    import signal
    import subprocess
    import sys

    from bench.cli import main
    from bench.results import FolderBusyError, sole_writer

    busy = tmp_path / "busy"
    with sole_writer(busy, "out"):
        with pytest.raises(FolderBusyError, match=rf"out: {busy} is being written by process "
                                                  rf"{os.getpid()}; wait for it"):  # fmt: skip
            _generate(busy)
        assert main(["dataset", "generate", "--game", "breakout", "--out", str(busy)]) == 2
    assert f"error: out: {busy} is being written by process" in capsys.readouterr().err
    assert not list(busy.glob("*.npz")) and not (busy / "progress.json").exists()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from bench.results import sole_writer\n"
         "with sole_writer(sys.argv[1], 'out'):\n    print('held', flush=True); time.sleep(600)",
         str(busy)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FolderBusyError, match=f"being written by process {holder.pid}"):
            _generate(busy)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert _generate(busy)["counts"]["train"] == TINY["train"]


def test_one_expert_labels_a_dataset_and_an_older_one_grows_as_it_was_labelled(tiny, tmp_path):
    """New datasets are labelled by one expert (the draws of FIXED_DRAWS_SEED in every shard);
    a dataset from before the draws were recorded was labelled per shard, and grows in place
    the same way, into what a per-shard generation writes at once; other draws are refused."""
    from bench.atari.generate import FIXED_DRAWS_SEED, expert_seed, plan_shards, wave_expert

    assert tiny[1]["expert_draws"] == "fixed"
    shards = plan_shards({"train": 4}, seed=5, shard_size=2)
    assert len({shard.seed for shard in shards}) == 2
    assert [expert_seed(shard, "fixed") for shard in shards] == [FIXED_DRAWS_SEED] * 2
    assert [expert_seed(shard, "per_shard") for shard in shards] == [s.seed for s in shards]
    for draws, same in (("fixed", True), ("per_shard", False)):
        one, two = wave_expert(shards, "breakout", draws).repeats  # env i plans for shard i
        assert np.array_equal(one, two) == same
    with pytest.raises(ValueError, match="expert_draws: expected one of"):
        expert_seed(shards[0], "shared")
    with pytest.raises(ValueError, match="expert_draws: expected one of"):
        _generate(tmp_path / "never", expert_draws="shared")
    assert not (tmp_path / "never").exists()

    older = tmp_path / "older"
    _generate(older, train=1, expert_draws="per_shard")
    for name in ("progress.json", "manifest.json"):  # as written before the draws were recorded
        record = json.loads((older / name).read_text())
        assert record.pop("expert_draws") == "per_shard"
        (older / name).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"with expert_draws='per_shard' \(now 'fixed'\);"):
        _generate(older, expert_draws="fixed")
    assert _generate(older)["expert_draws"] == "per_shard"
    at_once = tmp_path / "at_once"
    _generate(at_once, expert_draws="per_shard")
    _assert_same(_contents(older), _contents(at_once))


def test_generation_refuses_foreign_folders_and_other_settings(tiny, tmp_path):
    directory, _ = tiny
    from bench.atari.generate import generate

    with pytest.raises(ValueError, match="generated with"):
        generate(directory, AtariSettings("breakout", sticky=0.0), **{**TINY, "train": 3})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "train_0.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match="not generated by this command"):
        _generate(foreign)
    with pytest.raises(ValueError, match="train: expected an integer >= 1"):
        _generate(tmp_path / "none", train=0)


def test_missed_fires_record_the_waiting_frames_labelled_fire(tmp_path):
    """Without sticky actions the expert's one FIRE launches the ball at once; with misses the
    game waits on the same frame for several steps, each labelled FIRE by the expert."""
    from bench.atari.generate import Perturbations, generate

    settings = AtariSettings("breakout", sticky=0.0, noop_max=0)
    tiny = {**TINY, "train": 1, "val": 0, "shard_size": 1}
    plain = generate(tmp_path / "plain", settings, **tiny)
    missed = generate(tmp_path / "missed", settings, perturbations=Perturbations(0.9), **tiny)
    assert plain["fire_miss"] == 0.0 and missed["fire_miss"] == 0.9
    obs, actions = sequences.load_sequence(tmp_path / "plain" / "train_000000.npz")
    assert actions[0] == 1 and actions[1] != 1  # FIRE, then the ball is in play
    obs, actions = sequences.load_sequence(tmp_path / "missed" / "train_000000.npz")
    waited = int(np.argmin(actions == 1))  # steps labelled FIRE before the launch
    assert waited >= 2, actions
    for step in range(1, waited):  # nothing moved while the game waited
        np.testing.assert_array_equal(obs[step][..., -1], obs[0][..., -1])
    with pytest.raises(ValueError, match="generated with"):
        generate(tmp_path / "missed", settings, perturbations=Perturbations(0.5), **tiny)


def test_holds_send_random_runs_without_fire_and_leave_the_rest_alone():
    """`_perturb` alone, over many steps: holds cover the share of steps their rate and mean
    length imply, in runs of that mean length, never send FIRE, and send the expert's choice
    between them."""
    from types import SimpleNamespace

    from bench.atari.generate import Perturbations, _perturb

    noise = Perturbations(hold=0.03, hold_steps=8.0)
    slot = SimpleNamespace(holds=np.random.default_rng(0), misses=np.random.default_rng(1),
                           hold_left=0, held=0)  # fmt: skip
    held, runs, run = [], [], 0
    for _ in range(100_000):
        sent = _perturb(slot, 1, noise, fire=1, holdable=np.array([0, 2, 3]))  # chosen: FIRE
        held.append(sent != 1)
        if sent != 1:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    share = 0.03 * 8 / (1 + 0.03 * 8)
    assert abs(np.mean(held) - share) < 0.015, np.mean(held)
    assert 7.0 < np.mean(runs) < 9.0, np.mean(runs)  # back-to-back holds are rare (3%)


def test_holds_are_part_of_the_dataset_and_its_identity(tmp_path):
    """A held expert leaves the game waiting for its launch longer, labelled FIRE; the manifest
    records the holds, a resume without them is refused, and bad values are named."""
    from bench.atari.generate import Perturbations, generate

    settings = AtariSettings("breakout", sticky=0.0, noop_max=0)
    tiny = {**TINY, "train": 4, "val": 0, "shard_size": 4}
    plain = generate(tmp_path / "plain", settings, **tiny)
    held = generate(tmp_path / "held", settings, perturbations=Perturbations(hold=0.2), **tiny)
    assert plain["hold"] == 0.0 and (held["hold"], held["hold_steps"]) == (0.2, 8.0)

    def fire_labels(name):
        files = sequences.list_split(tmp_path / name, "train")
        return sum(int((sequences.load_sequence(f)[1] == 1).sum()) for f in files)

    assert fire_labels("plain") == 1  # the game's one launch, on its first step
    assert fire_labels("held") > 1
    with pytest.raises(ValueError, match="generated with"):
        generate(tmp_path / "held", settings, **tiny)
    bad = [({"fire_miss": 1.0}, "fire_miss"), ({"hold": -0.1}, "hold"), ({"hold": True}, "hold"),
           ({"hold_steps": 0.5}, "hold_steps"), ({"fire_miss": "0.5"}, "fire_miss")]  # fmt: skip
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=f"{name}: expected"):
            Perturbations(**kwargs)
    with pytest.raises(TypeError, match="perturbations: expected a Perturbations"):
        generate(tmp_path / "bad", settings, perturbations={"hold": 0.1}, **tiny)


# ----------------------------------------------------------------------------- loaders
def test_torch_and_tf_loaders_yield_identical_batches(tiny):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    from bench.atari.loaders import batches_per_epoch, epoch_order, tf_dataset, torch_loader

    directory, _ = tiny
    assert list(epoch_order(3, seed=1, epoch=0)) != list(epoch_order(3, seed=1, epoch=1)) or list(
        epoch_order(3, seed=1, epoch=0)
    ) != list(epoch_order(3, seed=1, epoch=2))
    for epoch in (0, 1):
        torch_batches = list(torch_loader(directory, "train", 2, seed=1, epoch=epoch))
        tf_batches = list(tf_dataset(directory, "train", 2, seed=1, epoch=epoch))
        assert len(torch_batches) == len(tf_batches) == batches_per_epoch(directory, "train", 2)
        for (x_t, y_t), (x_k, y_k) in zip(torch_batches, tf_batches):
            assert x_t.dtype.__str__() == "torch.uint8" and x_k.dtype.name == "uint8"
            np.testing.assert_array_equal(x_t.numpy(), x_k.numpy())
            np.testing.assert_array_equal(y_t.numpy(), y_k.numpy())
    prefetched = list(torch_loader(directory, "train", 2, seed=1, epoch=1, num_workers=1))
    for (x_p, y_p), (x_k, y_k) in zip(prefetched, tf_batches):  # a worker process prefetching
        np.testing.assert_array_equal(x_p.numpy(), x_k.numpy())
        np.testing.assert_array_equal(y_p.numpy(), y_k.numpy())
    order = epoch_order(3, seed=1, epoch=1)
    first = sequences.load_sequence(sequences.list_split(directory, "train")[order[0]])
    np.testing.assert_array_equal(tf_batches[0][0].numpy()[0], first[0])


def test_lane_order_reads_each_lane_in_stream_order_and_drops_nothing():
    from bench.atari.loaders import lane_order

    for count, lanes, block in [(10, 3, 4), (64, 8, 64), (5, 7, 2), (100, 32, 8)]:
        for shuffle in (False, True):
            order = lane_order(count, lanes, block, seed=2, epoch=1, shuffle=shuffle)
            assert sorted(order.tolist()) == list(range(count))
            batches = [order[i : i + lanes] for i in range(0, count, lanes)]
            lane_files = [[b[lane] for b in batches if len(b) > lane] for lane in range(lanes)]
            lengths = [len(files) for files in lane_files]
            assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)
            stream = np.concatenate(lane_files)  # lanes one after another: the stream they cut
            for k in range(-(-count // block)):  # every block whole and in file order
                where = np.flatnonzero(stream // block == k)
                assert list(where) == list(range(where[0], where[0] + len(where)))
                assert list(stream[where]) == list(range(k * block, min(count, k * block + block)))
            if not shuffle:
                assert list(stream) == list(range(count))
    first, second = (lane_order(64, 4, 4, seed=0, epoch=e) for e in (0, 1))
    assert list(first) != list(second)
    with pytest.raises(ValueError, match="lanes, block: expected >= 1"):
        lane_order(4, 0, 4, seed=0, epoch=0)


def test_continues_finds_where_a_sequence_picks_up_the_game(tiny):
    from bench.atari.loaders import continues

    directory, _ = tiny
    files = sequences.list_split(directory, "train") + sequences.list_split(directory, "val")
    seqs = [sequences.load_sequence(f)[0] for f in files]
    # shards of 2: train 0 -> 1 is one game, train 2 another, val 0 -> 1 a third
    previous = np.stack([seqs[0][-1], seqs[1][-1], seqs[1][-1], seqs[3][-1]])
    following = np.stack([seqs[1][0], seqs[2][0], seqs[0][0], seqs[4][0]])
    assert continues(following, previous).tolist() == [True, False, False, True]


def test_loaders_with_carried_state_yield_lane_order_alike(tiny):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    from bench.atari.loaders import batches_per_epoch, lane_order, tf_dataset, torch_loader

    directory, manifest = tiny
    files = sequences.list_split(directory, "train")
    order = lane_order(3, 2, manifest["shard_size"], seed=1, epoch=0)
    torch_batches = list(torch_loader(directory, "train", 2, seed=1, carry_state=True))
    tf_batches = list(tf_dataset(directory, "train", 2, seed=1, carry_state=True))
    assert [len(x) for x, _ in torch_batches] == [len(x) for x, _ in tf_batches] == [2, 1]
    assert batches_per_epoch(directory, "train", 2) == 2
    rows_t = np.concatenate([x.numpy() for x, _ in torch_batches])
    rows_k = np.concatenate([x.numpy() for x, _ in tf_batches])
    np.testing.assert_array_equal(rows_t, rows_k)
    for row, index in zip(rows_t, order):
        np.testing.assert_array_equal(row, sequences.load_sequence(files[index])[0])


def test_shift_offsets_move_whole_shards_within_the_bound_anew_each_epoch():
    from bench.atari.loaders import shift_offsets

    offsets = shift_offsets(1000, 8, 4, seed=3, epoch=0)
    assert offsets.shape == (1000, 2) and offsets.dtype == np.int64
    assert offsets.min() == -4 and offsets.max() == 4  # both ends drawn, nothing beyond
    blocks = offsets.reshape(-1, 8, 2)
    assert (blocks == blocks[:, :1]).all()  # a shard moves as one
    np.testing.assert_array_equal(offsets, shift_offsets(1000, 8, 4, seed=3, epoch=0))
    assert (offsets != shift_offsets(1000, 8, 4, seed=3, epoch=1)).any()
    assert not shift_offsets(5, 2, 0, seed=0, epoch=0).any()
    with pytest.raises(ValueError, match="block, shift: expected >= 1 and >= 0, got 0, 4"):
        shift_offsets(4, 0, 4, seed=0, epoch=0)


def test_shifted_moves_every_frame_and_repeats_the_edges():
    from bench.atari.loaders import shifted

    obs = np.random.default_rng(0).integers(0, 256, (2, 84, 84, 4), dtype=np.uint8)
    down_right = shifted(obs, 3, 2)
    assert down_right.shape == obs.shape and down_right.dtype == np.uint8
    np.testing.assert_array_equal(down_right[:, 3:, 2:], obs[:, :-3, :-2])
    np.testing.assert_array_equal(down_right[:, :3, 2:], np.repeat(obs[:, :1, :-2], 3, axis=1))
    np.testing.assert_array_equal(down_right[:, 3:, :2], np.repeat(obs[:, :-3, :1], 2, axis=2))
    up_left = shifted(obs, -1, -4)
    np.testing.assert_array_equal(up_left[:, :-1, :-4], obs[:, 1:, 4:])
    np.testing.assert_array_equal(up_left[:, -1, :-4], obs[:, -1, 4:])
    np.testing.assert_array_equal(shifted(obs, 0, 0), obs)


def test_loaders_shift_training_sequences_alike(tiny):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    from bench.atari.loaders import epoch_order, shift_offsets, shifted, tf_dataset, torch_loader

    directory, manifest = tiny
    files = sequences.list_split(directory, "train")
    block = manifest["shard_size"]
    # an epoch in which some file moves
    epoch = next(e for e in range(64) if shift_offsets(3, block, 2, 1, e).any())
    offsets, order = shift_offsets(3, block, 2, 1, epoch), epoch_order(3, 1, epoch)
    ((x_t, y_t),) = torch_loader(directory, "train", 3, seed=1, epoch=epoch, shift=2)
    ((x_k, y_k),) = tf_dataset(directory, "train", 3, seed=1, epoch=epoch, shift=2)
    np.testing.assert_array_equal(x_t.numpy(), x_k.numpy())
    np.testing.assert_array_equal(y_t.numpy(), y_k.numpy())
    for row, index in enumerate(order):
        obs, actions = sequences.load_sequence(files[index])
        np.testing.assert_array_equal(x_t[row].numpy(), shifted(obs, *offsets[index]))
        np.testing.assert_array_equal(y_t[row].numpy(), actions)  # labels stay
    ((plain, _),) = torch_loader(directory, "train", 3, seed=1, epoch=epoch)
    assert (plain.numpy() != x_t.numpy()).any()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match=f"shift: expected an integer >= 0 .*got {bad!r}"):
            torch_loader(directory, "train", 3, shift=bad)


def test_prefetched_keeps_order_raises_where_the_reader_failed_and_stops_when_closed():
    import threading

    from bench.atari.loaders import prefetched

    assert list(prefetched(range(50), depth=3)) == list(range(50))

    def failing():
        yield from (0, 1)
        raise sequences.SequenceFileError("train_000002.npz: corrupt")

    seen = []
    with pytest.raises(sequences.SequenceFileError, match="train_000002"):
        for item in prefetched(failing()):
            seen.append(item)
    assert seen == [0, 1]

    read = []

    def endless():
        for i in range(10**9):
            read.append(i)
            yield i

    stream = prefetched(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the reader thread stops, a few items ahead at most
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(read) <= 3 + 2 + 1
    with pytest.raises(ValueError, match="depth: expected >= 1, got 0"):
        next(prefetched(range(3), depth=0))


def test_a_directory_in_ncps_layout_loads(tiny, tmp_path):
    """ncps names files train_0 .. train_10 (no padding) and has no manifest."""
    pytest.importorskip("torch")
    from bench.atari.loaders import torch_dataset

    directory, _ = tiny
    obs, actions = sequences.load_sequence(directory / "train_000000.npz")
    for index in range(11):
        np.savez_compressed(tmp_path / f"train_{index}.npz", obs=obs, actions=(actions + index) % 4)
    np.savez_compressed(tmp_path / "val_0.npz", obs=obs, actions=actions)
    files = sequences.list_split(tmp_path, "train")
    assert [p.name for p in files][9:] == ["train_9.npz", "train_10.npz"]
    dataset = torch_dataset(tmp_path, "train")
    assert len(dataset) == 11
    np.testing.assert_array_equal(dataset[10][1].numpy(), (actions + 10) % 4)
    report = sequences.check_directory(tmp_path, progress_bar=False)
    assert report["problems"] == [] and not report["manifest"]


# --------------------------------------------------------------------------- bad input
def test_bad_files_are_named_and_check_lists_them_all(tiny, tmp_path):
    import shutil

    directory, _ = tiny
    broken = tmp_path / "broken"
    shutil.copytree(directory, broken)
    good = (broken / "train_000000.npz").read_bytes()
    (broken / "train_000000.npz").write_bytes(good[: len(good) // 2])  # truncated
    obs, actions = sequences.load_sequence(broken / "train_000001.npz")
    np.savez_compressed(broken / "train_000001.npz", obs=obs.astype(np.float32), actions=actions)
    np.savez_compressed(broken / "val_000000.npz", obs=obs[:5], actions=actions + 4)
    os.remove(broken / "val_000001.npz")
    with pytest.raises(sequences.SequenceFileError, match=r"train_000000\.npz: unreadable"):
        sequences.load_sequence(broken / "train_000000.npz")
    with pytest.raises(
        sequences.SequenceFileError, match=r"train_000001\.npz: obs: expected uint8"
    ):
        sequences.load_sequence(broken / "train_000001.npz")
    problems = sequences.check_directory(broken, progress_bar=False)["problems"]
    text = "\n".join(problems)
    assert len(problems) == 4, text
    assert "train_000000.npz: unreadable" in text and "train_000001.npz: obs" in text
    assert "val_000000.npz: obs: expected uint8 (32, 84, 84, 4), got uint8 (5, 84, 84, 4)" in text
    assert "missing 1, e.g. val_000001.npz" in text
    # Nothing generated is lost: the untouched file is as it was.
    assert (broken / "train_000002.npz").read_bytes() == (
        directory / "train_000002.npz"
    ).read_bytes()


def test_missing_or_empty_splits_and_unknown_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        sequences.list_split(tmp_path / "nope", "train")
    with pytest.raises(sequences.SequenceFileError, match="the 'val' split is empty"):
        sequences.list_split(tmp_path, "val")
    with pytest.raises(ValueError, match="split: expected one of"):
        sequences.list_split(tmp_path, "test")
    np.savez_compressed(tmp_path / "train_0.npz", frames=np.zeros(3))
    with pytest.raises(sequences.SequenceFileError, match="missing \\['actions', 'obs'\\]"):
        sequences.load_sequence(tmp_path / "train_0.npz")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(sequences.SequenceFileError, match="manifest.json: not valid JSON"):
        sequences.read_manifest(tmp_path)


def test_dataset_cli_check_reports_problems(tiny, tmp_path, capsys):
    from bench.cli import main

    directory, _ = tiny
    assert main(["dataset", "check", str(directory)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    (tmp_path / "train_0.npz").write_bytes(b"not a zip")
    assert main(["dataset", "check", str(tmp_path)]) == 1
    assert "train_0.npz: unreadable" in capsys.readouterr().out
    assert main(["dataset", "generate", "--game", "pongg", "--out", str(tmp_path / "x")]) == 2


# ------------------------------------------------------------------------- label ambiguity
def test_flip_rates_count_only_flips_the_perturbation_causes(monkeypatch):
    from bench.atari import ambiguity

    rates = ambiguity.flip_rates(steps=400, seed=1)
    assert rates["steps"] > 200 and set(rates) == {"steps", *ambiguity.PERTURBATIONS}
    assert all(0 <= rates[name] <= 100 for name in ambiguity.PERTURBATIONS)
    assert ambiguity.flip_rates(steps=400, seed=1) == rates  # deterministic for a seed
    far = ambiguity._one_px(ambiguity.RAM_BALL_X)
    monkeypatch.setattr(ambiguity, "PERTURBATIONS", {
        "none": lambda ram, sign: ram,
        "ball 40 px": lambda ram, sign: far(ram, 40 * sign),
    })  # fmt: skip
    probe = ambiguity.flip_rates(steps=400, seed=1)
    assert probe["none"] == 0 and probe["ball 40 px"] > 20, probe
    with pytest.raises(ValueError, match="steps: expected a positive integer"):
        ambiguity.flip_rates(steps=0)


def test_draws_agreement_is_total_for_one_draw_and_partial_across_draws():
    """One draw agrees with itself everywhere; experts of different sticky-action draws
    disagree on some states, and the majority label is a draw's at least as often as two
    draws agree (sum of p^2 <= max p)."""
    from bench.atari import ambiguity

    alone = ambiguity.draws_agreement(steps=60, draws=1, num_envs=2)
    assert alone == {"steps": 120, "pairwise": 100.0, "majority": 100.0}
    several = ambiguity.draws_agreement(steps=60, draws=4, num_envs=2)
    assert 25 <= several["pairwise"] < 100 and several["pairwise"] <= several["majority"] < 100
    assert ambiguity.draws_agreement(steps=60, draws=4, num_envs=2) == several
    with pytest.raises(ValueError, match="draws: expected a positive integer"):
        ambiguity.draws_agreement(draws=0)
