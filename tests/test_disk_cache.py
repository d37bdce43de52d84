"""Trained models kept on disk: trained once, read back after, retrained with a notice when the file is damaged."""
from __future__ import annotations

import threading

import pytest
import torch

from attention.domains import store


def test_a_model_is_trained_once_then_read_and_a_damaged_file_is_trained_again(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_CACHE", str(tmp_path))
    path = store.recipe_path("toy", {"size": 3, "seed": 0})
    assert path.parent == tmp_path and path == store.recipe_path("toy", {"seed": 0, "size": 3})   # order does not matter
    assert path != store.recipe_path("toy", {"size": 4, "seed": 0})
    trainings: list[tuple[str, ...]] = []

    def train(notices):
        trainings.append(notices)
        weights = torch.arange(3.0)
        return ("trained", weights), {"weights": weights}

    read = lambda saved: ("read", saved["weights"])  # noqa: E731
    assert not store.is_ready(path)
    threads = [threading.Thread(target=store.load_or_train, args=(path, read, train, "toy model")) for _ in range(3)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert trainings == [()] and store.is_ready(path)                   # three callers, one training
    first = store.load_or_train(path, read, train, "toy model")
    assert first[0] == "trained" and store.load(path)["weights"].tolist() == [0.0, 1.0, 2.0]

    store._MEMORY.pop(path)                                            # a new process: the file is read
    assert store.load_or_train(path, read, train, "toy model")[0] == "read" and len(trainings) == 1

    store._MEMORY.pop(path)
    path.write_bytes(b"not a torch file")                                   # damaged: trained again, and said so
    assert store.load_or_train(path, read, train, "toy model")[0] == "trained"
    assert "saved toy model could not be read" in trainings[-1][0]
    assert store.load(path)["weights"].tolist() == [0.0, 1.0, 2.0]     # and saved whole again
    assert not list(tmp_path.glob("*.tmp"))                                # no half-written files left behind


def _train_in_another_process(path: str, log: str) -> float:
    """Run load_or_train in a fresh process whose training takes a while and notes each training in `log`."""
    import time
    from pathlib import Path

    import torch

    from attention.domains import store

    def train(notices):
        with open(log, "a") as handle:
            handle.write("trained\n")
        time.sleep(1.0)
        return "value", {"weights": torch.arange(3.0)}

    store.load_or_train(Path(path), lambda content: float(content["weights"].sum()), train, "toy model")
    return 1.0


def test_two_processes_train_one_file_once(tmp_path, monkeypatch):
    """The file lock: a second process asking while the first trains waits, then reads the file instead of training."""
    import multiprocessing

    monkeypatch.setenv("ATTENTION_LENS_CACHE", str(tmp_path))
    path, log = tmp_path / "toy.pt", tmp_path / "log.txt"
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.starmap(_train_in_another_process, [(str(path), str(log)), (str(path), str(log))])
    assert log.read_text().splitlines() == ["trained"] and path.exists()


def test_training_runs_on_one_thread_and_gives_torch_its_threads_back():
    before = torch.get_num_threads()
    with store.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), store.one_thread():
        raise RuntimeError("a failed run")
    assert torch.get_num_threads() == before
