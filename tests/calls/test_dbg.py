from tests.calls.test_end_to_end import *
from voxroute.softphone import format_result

async def test_debug(env: Env) -> None:
    results = await asyncio.gather(*(place_call(env.base, NUMBER, CALLER, ACCOUNT_SID, AUTH_TOKEN, [HELLO], **FAST) for _ in range(20)))
    for r in results[:4]: print(format_result(r))
    await asyncio.sleep(2)
    for rep in env.runtime.reports[:3]: print(rep.end_reason, rep.latency, rep.usage)
    print(env.runtime.registry.loop_lag_ms)
