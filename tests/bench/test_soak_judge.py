"""The soak's judgement on synthetic samples: growth that must fail, noise that must pass, stalls, Redis memory
per event, deaths (services/bench/soak_judge.py)."""

from __future__ import annotations

import random

from services.bench.soak_judge import PSS_MB_PER_H, REDIS_BYTES_PER_EVENT, STALL_SAMPLES, judge, slope
from services.bench.soak_sampling import REDIS, Death, Memory, RedisSize, Sample

HOUR = [60.0 * i for i in range(61)]  # an hour sampled every minute


def samples(times, anon=lambda name, t: 300.0, decided=lambda agent, t: int(t), resting=lambda agent, t: False,
            redis_bytes=lambda events: 1_000_000 + 300 * events, pid=lambda name, t: 100):
    """A run of samples: two agents deciding once a second, a canvas, and Redis at 300 B per event."""
    out = []
    for t in times:
        events = int(t * 5)
        memory = {n: Memory(pid(n, t), anon(n, t) + 150, anon(n, t)) for n in ("agent smol", "canvas", REDIS)}
        out.append(Sample(t, 1000.0 + t, memory, RedisSize(redis_bytes(events), 50, events, events),
                          {a: decided(a, t) for a in ("smol", "gemma")}, {a: resting(a, t) for a in ("smol", "gemma")}))
    return out


def test_a_steady_studio_passes_with_its_figures():
    v = judge(samples(HOUR), [], 1000.0)
    assert v.passed, v.failures
    assert abs(v.max_growth_mb_per_h) < 1e-6
    assert abs(v.bytes_per_event - 300) < 1e-6
    assert v.decisions_per_min == {"smol": 60.0, "gemma": 60.0}


def test_steady_growth_of_one_process_fails_naming_it():
    v = judge(samples(HOUR, anon=lambda n, t: 300 + (20 * t / 3600 if n == "canvas" else 0)), [], 1000.0)
    assert not v.passed
    assert len(v.failures) == 1 and v.failures[0].startswith("FAIL memory: canvas (pid 100) grows 20.0 MB/h")
    assert abs(v.max_growth_mb_per_h - 20) < 1e-6


def test_noise_and_a_last_spike_pass_where_first_versus_last_would_fail():
    rng = random.Random(7)
    noise = {t: rng.uniform(-3, 3) for t in HOUR}
    v = judge(samples(HOUR, anon=lambda n, t: 300 + noise[t] + (25 if t == HOUR[-1] else 0)), [], 1000.0)
    assert v.passed, v.failures  # the last sample alone is 25 MB above the first


def test_redis_growth_is_not_judged_as_a_leak_but_per_event():
    grows = samples(HOUR, anon=lambda n, t: 300 + (100 * t / 3600 if n == REDIS else 0))
    assert judge(grows, [], 1000.0).passed
    heavy = samples(HOUR, redis_bytes=lambda events: 1_000_000 + 3 * REDIS_BYTES_PER_EVENT * events)
    v = judge(heavy, [], 1000.0)
    assert [line.split(":")[0] for line in v.failures] == ["FAIL redis"]


def test_a_short_run_is_judged_against_the_noise_floor_not_the_rate():
    rng = random.Random(3)
    times = [15.0 * i for i in range(7)]  # 1.5 minutes: 2 MB of churn is 80 MB/h
    noise = {t: rng.uniform(-2, 2) for t in times}
    v = judge(samples(times, anon=lambda n, t: 300 + noise[t]), [], 1000.0)
    assert v.passed, v.failures
    assert judge(samples(times, redis_bytes=lambda events: 7_000_000), [], 1000.0).bytes_per_event == 0


def test_too_few_events_are_not_judged_per_event():
    idle = samples([60.0 * i for i in range(10)], redis_bytes=lambda events: 1_000_000 + 9_000 * (events > 100))
    for s in idle:
        s.redis = RedisSize(s.redis.used_memory, 50, 0, min(s.redis.recorded, 150))  # 150 events at most
    v = judge(idle, [], 1000.0)
    assert v.bytes_per_event is None and v.passed, v.failures


def test_a_restarted_process_starts_a_new_line():
    v = judge(samples(HOUR, pid=lambda n, t: 100 if t < 1800 else 200,
                      anon=lambda n, t: 300 if t < 1800 else 100), [], 1000.0)
    assert v.passed, v.failures  # from 300 MB to a fresh 100 MB is no growth, and no fall either
    assert abs(v.growth["canvas"].mb_per_h) < 1e-6


def test_an_agent_without_decisions_for_k_samples_stalls_unless_it_rests():
    quiet = (1200, 1200 + 60 * STALL_SAMPLES)
    frozen = lambda a, t: int(min(t, quiet[0])) if a == "gemma" and t <= quiet[1] else int(t)  # noqa: E731
    v = judge(samples(HOUR, decided=frozen), [], 1000.0)
    assert [(s.agent, s.start, s.end, s.samples) for s in v.stalls] == [("gemma", quiet[0], quiet[1], STALL_SAMPLES)]
    assert v.failures == [f"FAIL stall: agent gemma made no decision from minute 20.0 to 23.0 ({STALL_SAMPLES} "
                          f"samples) without resting by its budget"]
    resting = lambda a, t: a == "gemma" and t == quiet[1]  # rested in one of the quiet intervals  # noqa: E731
    assert judge(samples(HOUR, decided=frozen, resting=resting), [], 1000.0).passed


def test_one_quiet_sample_fewer_than_k_is_not_a_stall():
    short = lambda a, t: int(min(t, 1200)) if a == "gemma" and t <= 1200 + 60 * (STALL_SAMPLES - 1) else int(t)  # noqa: E731
    assert judge(samples(HOUR, decided=short), [], 1000.0).passed


def test_a_death_fails_with_its_minute_and_code():
    v = judge(samples(HOUR), [Death("canvas", -9, 1000.0 + 600)], 1000.0)
    assert v.failures == ["FAIL death: canvas exited with -9 at minute 10.0 (the supervisor restarted it; what "
                          "the studio logged as errors is shown above)"]


def test_slope_is_least_squares():
    assert slope([0, 1, 2, 3], [1, 3, 5, 7]) == 2
    assert slope([5, 5], [1, 9]) == 0  # no spread in x: no line
    assert PSS_MB_PER_H > 0
