"""A whole load run against the fake Twilio endpoint: how long its calls are up together."""

from __future__ import annotations

from tests.loadtest.fake_twilio import CLIP, Start, listen_until_closed
from voxroute.loadtest import LoadConfig, build_report, run_load


async def test_every_call_stays_up_until_the_ramp_and_the_duration_are_over(
    fake_twilio: Start,
) -> None:
    """A ramp longer than the duration: had each call lasted the duration from its own
    start, the first would hang up before the last arrived."""
    fake = await fake_twilio(listen_until_closed)
    config = LoadConfig(
        url=fake.base_url,
        number="+15550100000",
        account_sid="AC" + "0" * 32,
        auth_token="token",  # noqa: S106 - the fake checks nothing
        clips=[CLIP],
        calls=3,
        duration_s=1.0,
        ramp_s=2.0,
        initial_wait_s=0.1,
        quiet_s=0.3,
        reply_timeout_s=1.0,
    )
    report = build_report(await run_load(config, progress=None))
    assert report["calls_completed"] == 3, report["errors"]
    assert report["concurrency"]["peak"] == 3
    assert report["concurrency"]["all_live_s"] > 0
    ends = [call["started_at_s"] + call["duration_s"] for call in report["per_call"]]
    starts = [call["started_at_s"] for call in report["per_call"]]
    assert min(ends) > max(starts)  # the first still up when the last arrived
