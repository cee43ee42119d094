"""Connection slots and sliding windows, against a hand-driven clock."""

from __future__ import annotations

from mailbridge.ingress.limits import ConnectionLimiter, RateLimiter, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_connection_limiter_total_and_per_ip():
    limiter = ConnectionLimiter(total=3, per_ip=2)
    assert limiter.admit("10.0.0.1") is None
    assert limiter.admit("10.0.0.1") is None
    assert limiter.admit("10.0.0.1") == "too many connections from your address"
    assert limiter.admit("10.0.0.2") is None
    assert limiter.admit("10.0.0.3") == "too many connections"
    assert (limiter.open, dict(limiter.by_ip)) == (3, {"10.0.0.1": 2, "10.0.0.2": 1})
    limiter.release("10.0.0.1")
    assert limiter.admit("10.0.0.3") is None
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        limiter.release(ip)
    assert (limiter.open, dict(limiter.by_ip)) == (0, {})


def test_sliding_window_slides():
    clock = Clock()
    window = SlidingWindow(limit=2, window=60, clock=clock)
    assert window.allows("k")
    window.record("k")
    clock.now += 30
    window.record("k")
    assert not window.allows("k")
    clock.now += 30  # the first event is exactly a window old: it no longer counts
    assert window.allows("k") and window.count("k") == 1
    clock.now += 31
    assert window.count("k") == 0 and "k" not in window.events


def test_zero_limit_is_no_limit_and_keeps_nothing():
    window = SlidingWindow(limit=0, window=60, clock=Clock())
    for _ in range(1000):
        window.record("k")
    assert window.allows("k") and window.events == {}


def test_stale_keys_are_swept():
    clock = Clock()
    window = SlidingWindow(limit=5, window=60, clock=clock)
    for n in range(100):
        window.record(f"sender{n}")
    clock.now += 61
    window.record("late")
    assert list(window.events) == ["late"]


def test_sender_limit_defers_the_n_plus_first_only():
    clock = Clock()
    rates = RateLimiter(per_sender=3, per_ip=100, window=3600, clock=clock)
    for _ in range(3):
        assert rates.check("Carer@Homes.example", "1.2.3.4") is None
        rates.record("<carer@homes.example>", "1.2.3.4")
    assert rates.check("carer@homes.example", "5.6.7.8") == "sender"
    clock.now += 3600
    assert rates.check("carer@homes.example", "1.2.3.4") is None


def test_a_first_report_passes_even_from_a_busy_ip():
    rates = RateLimiter(per_sender=30, per_ip=2, window=3600, clock=Clock())
    for sender in ("a@x.example", "b@x.example"):
        rates.record(sender, "1.2.3.4")
    assert rates.check("a@x.example", "1.2.3.4") == "ip"
    assert rates.check("new@x.example", "1.2.3.4") is None
    assert rates.check("a@x.example", "9.9.9.9") is None


def test_a_first_report_passes_from_a_busy_ip_with_no_sender_limit():
    rates = RateLimiter(per_sender=0, per_ip=2, window=3600, clock=Clock())
    for sender in ("a@x.example", "b@x.example"):
        rates.record(sender, "1.2.3.4")
    assert rates.check("a@x.example", "1.2.3.4") == "ip"
    assert rates.check("brand.new@x.example", "1.2.3.4") is None


def test_null_sender_is_held_by_the_ip_limit_alone():
    rates = RateLimiter(per_sender=1, per_ip=2, window=3600, clock=Clock())
    rates.record("", "1.2.3.4")
    assert rates.check("", "1.2.3.4") is None
    rates.record("", "1.2.3.4")
    assert rates.check("", "1.2.3.4") == "ip"
    assert rates.senders.events == {}
