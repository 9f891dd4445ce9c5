"""Device profiles: the drawn distributions, availability schedules and the trace format."""

from pathlib import Path

import numpy as np
import pytest

from fedrec.runtime.devices import DeviceProfiles, Heterogeneity, TraceError, draw_profiles, read_trace


def test_lognormal_speeds_have_the_asked_spread_and_median() -> None:
    ids = np.arange(1, 100_001)
    p = draw_profiles(ids, Heterogeneity(examples_per_s=50.0, speed_spread=10.0), seed=0)
    low, mid, high = np.percentile(p.examples_per_s, [5, 50, 95])
    assert high / low == pytest.approx(10.0, rel=0.05) and mid == pytest.approx(50.0, rel=0.02)
    assert (p.offline_s == 0).all() and p.online(ids[:5], 123.0).all()


def test_availability_is_the_share_of_time_online() -> None:
    ids = np.arange(1, 20_001)
    p = draw_profiles(ids, Heterogeneity(availability=0.3, mean_online_s=100.0), seed=1)
    share = np.mean([p.online(ids, t).mean() for t in np.linspace(0, 5000, 40)])
    assert share == pytest.approx(0.3, abs=0.02)


def test_a_schedule_by_hand() -> None:
    p = DeviceProfiles(
        np.array([7]), np.ones(1), np.ones(1), np.ones(1), np.array([10.0]), np.array([5.0]), np.array([2.0])
    )
    # online while (t + 2) mod 15 < 10: t in [0, 8) and [13, 23)
    assert p.online(np.array([7]), 7.9)[0] and not p.online(np.array([7]), 8.0)[0] and p.online(np.array([7]), 13.0)[0]
    assert p.offline_at(np.array([7]), 1.0)[0] == pytest.approx(8.0)
    assert (
        p.online_until(np.array([7]), 1.0, np.array([7.5]))[0]
        and not p.online_until(np.array([7]), 1.0, np.array([9.0]))[0]
    )
    # 3 examples x 2 epochs at 1/s, 10 bytes down at 1/s, 4 bytes up at 1/s
    q = DeviceProfiles.uniform(np.array([7]), 1.0, 1.0, epochs=2)
    assert q.arrival_delays(np.array([7]), np.array([3]), 10, np.array([4]))[0] == pytest.approx(6 + 10 + 4)


def test_a_trace_gives_each_client_its_row(tmp_path: Path) -> None:
    trace = tmp_path / "devices.csv"
    trace.write_text("client_id,examples_per_s,down_bytes_per_s,up_bytes_per_s,online_s,offline_s,phase_s\n"
                     "2,20,2000,1000,60,30,0\n1,10,1000,500,100,0,0\n9,1,1,1,1,1,1\n")  # fmt: skip
    p = read_trace(trace, np.array([1, 2]))
    assert p.examples_per_s.tolist() == [10.0, 20.0] and p.up_bytes_per_s.tolist() == [500.0, 1000.0]
    assert p.online(np.array([1, 2]), 70.0).tolist() == [True, False]
    with pytest.raises(TraceError, match=r"no row for clients \[3\]"):
        read_trace(trace, np.array([1, 3]))
    bad = tmp_path / "bad.csv"
    bad.write_text("client_id,speed\n1,2\n")
    with pytest.raises(TraceError, match="needs the columns"):
        read_trace(bad, np.array([1]))
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "absent.csv", np.array([1]))
