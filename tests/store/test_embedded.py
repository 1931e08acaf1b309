from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import redis

from switchboard.store.embedded import EmbeddedMongo, EmbeddedRedis


def client(uri: str) -> pymongo.MongoClient[dict[str, object]]:
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000)


def test_the_embedded_mongo_data_survives_a_stop_and_start_in_the_same_data_dir(tmp_path: Path) -> None:
    mongo = EmbeddedMongo(str(tmp_path))
    with client(mongo.start()) as c:
        c.get_default_database().notes.insert_one({"_id": "n1", "text": "kept"})
    mongo.stop()
    mongo.stop()  # idempotent
    with EmbeddedMongo(str(tmp_path)) as again, client(again.start()) as c:
        assert c.get_default_database().notes.find_one({"_id": "n1"}) == {"_id": "n1", "text": "kept"}
    assert "Warning" not in (tmp_path / "mongo.stderr").read_text()  # what an operator reads first when it fails


def test_two_embedded_mongos_in_different_data_dirs_coexist(tmp_path: Path) -> None:
    with EmbeddedMongo(str(tmp_path / "a")) as a, EmbeddedMongo(str(tmp_path / "b")) as b:
        assert a.url != b.url
        assert len(list(tmp_path.glob("*/mongo.pid"))) == 2
        for m in (a, b):
            with client(m.start()) as c:
                assert c.admin.command("ping")["ok"] == 1


def test_a_stale_embedded_mongo_left_by_a_killed_parent_is_replaced_on_start(tmp_path: Path) -> None:
    stale_pid = _start_and_kill_parent(tmp_path, "EmbeddedMongo", "mongo.pid")
    with EmbeddedMongo(str(tmp_path)) as mongo, client(mongo.start()) as c:
        assert c.admin.command("ping")["ok"] == 1
        assert not _alive(stale_pid)
        assert (tmp_path / "mongo.pid").read_text().strip() != str(stale_pid)


def test_embedded_redis_serves_set_get_and_pub_sub(tmp_path: Path) -> None:
    with EmbeddedRedis(str(tmp_path)) as server:
        url = server.start()
        assert url.startswith("unix://")
        r = redis.Redis.from_url(url)
        sub = r.pubsub()
        sub.subscribe("events")
        confirmation = sub.get_message(timeout=1.0)
        assert confirmation is not None and confirmation["type"] == "subscribe"
        r.set("greeting", "hello")
        r.publish("events", "ping")
        message = sub.get_message(timeout=1.0)
        assert message is not None and message["data"] == b"ping"
        assert r.get("greeting") == b"hello"
        sub.close()
        r.close()


def test_embedded_redis_data_survives_a_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(str(tmp_path)) as server:
        redis.Redis.from_url(server.start()).set("k", "v")
    with EmbeddedRedis(str(tmp_path)) as server:
        assert redis.Redis.from_url(server.start()).get("k") == b"v"


def test_a_stale_embedded_redis_left_by_a_killed_parent_is_replaced_on_start(tmp_path: Path) -> None:
    stale_pid = _start_and_kill_parent(tmp_path, "EmbeddedRedis", "redis/redis.pid")
    with EmbeddedRedis(str(tmp_path)) as server:
        assert redis.Redis.from_url(server.start()).ping()
        assert not _alive(stale_pid)


def _start_and_kill_parent(data_dir: Path, cls: str, pid_file: str) -> int:
    """Start a server from a child Python process, kill -9 that process, return the orphaned server's pid."""
    code = (f"import sys, time; from switchboard.store.embedded import {cls}; "
            f"{cls}(sys.argv[1]).start(); print('up', flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE)
    assert parent.stdout is not None and parent.stdout.readline() == b"up\n"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    stale_pid = int((data_dir / pid_file).read_text())
    assert _alive(stale_pid)
    return stale_pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
