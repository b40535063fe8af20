import socket

from appliance.sdnotify import Notifier


def test_silent_without_socket():
    n = Notifier(env={})
    assert n.ready() is False and n.watchdog_s is None


def test_messages_and_abstract_socket():
    name = f"appliance-test-{id(object())}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    n = Notifier(env={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "2000000"})
    assert n.watchdog_s == 2.0
    assert n.ready("up")
    assert sock.recv(100) == b"READY=1\nSTATUS=up"
    n.watchdog()
    assert sock.recv(100) == b"WATCHDOG=1"
    sock.close()


def test_watchdog_for_other_pid_ignored():
    assert Notifier(env={"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_s is None
