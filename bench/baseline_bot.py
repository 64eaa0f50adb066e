"""The reference bot for `bench/capacity.py`: pipecat's Twilio example, pointed at emulators.

Built the way pipecat's own Twilio phone example builds a bot (one process, FastAPI, a
`FastAPIWebsocketTransport` per call with a `TwilioFrameSerializer`, `parse_telephony_websocket`
for `start`, a fresh `SileroVADAnalyzer()` per call, Deepgram STT → OpenAI LLM → Cartesia TTS,
`PipelineParams(audio_in/out 8000, metrics on)`, pipecat's default turn strategies, RTVI and
observers) so the benchmark compares voxroute with what a team gets from the example.

Deviations, each needed to run it side by side, none making it slower:
* provider endpoints are the emulators (`base_url`/`url`), keys come from a JSON file
  instead of `*_API_KEY` variables;
* the webhook path is voxroute's (`POST /telephony/twilio/voice`) so the same load generator
  calls both; like the example, it does not check the signature;
* the greeting is the demo assistant's first message spoken with `TTSSpeakFrame` (the
  example asks the LLM for an intro), so both servers do the same work per call;
* auto hang-up is off (the caller always hangs up in the load test; no Twilio REST needed);
* on `stop` nothing happens (as in the example): the call ends when the socket closes.

Usage: python bench/baseline_bot.py --port 8800 --config providers.json
where providers.json is {"deepgram": {"base_url": …, "api_key": …}, "openai": …, "cartesia": …}.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import warnings
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket
from loguru import logger

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import TTSSpeakFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.runner.utils import parse_telephony_websocket
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.cartesia.tts import CartesiaTTSService
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.transports.websocket.fastapi import (
        FastAPIWebsocketParams,
        FastAPIWebsocketTransport,
    )
    from pipecat.workers.runner import WorkerRunner

from voxroute.demo import DEMO_ASSISTANT

SYSTEM_PROMPT = str(DEMO_ASSISTANT["system_prompt"])
FIRST_MESSAGE = str(DEMO_ASSISTANT["first_message"])
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"


def build_app(providers: dict[str, dict[str, str]], public_ws: str) -> FastAPI:
    app = FastAPI()

    @app.post("/telephony/twilio/voice")
    async def voice(_request: Request) -> Response:
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f'<Stream url="{public_ws}"></Stream></Connect></Response>'
        )
        return Response(content=twiml, media_type="application/xml")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call_data = await parse_telephony_websocket(websocket)
        await run_bot(websocket, call_data, providers)

    return app


async def run_bot(
    websocket: WebSocket, call_data: dict[str, Any], providers: dict[str, dict[str, str]]
) -> None:
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    dg, oa, ca = providers["deepgram"], providers["openai"], providers["cartesia"]
    stt = DeepgramSTTService(api_key=dg["api_key"], base_url=dg["base_url"])
    llm = OpenAILLMService(
        api_key=oa["api_key"],
        base_url=oa["base_url"].rstrip("/") + "/v1",
        settings=OpenAILLMService.Settings(model="gpt-4o-mini", system_instruction=SYSTEM_PROMPT),
    )
    tts = CartesiaTTSService(
        api_key=ca["api_key"],
        url=ca["base_url"].replace("http", "ws", 1).rstrip("/") + "/tts/websocket",
        settings=CartesiaTTSService.Settings(model="sonic-3", voice=VOICE),
    )
    context = LLMContext()
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            user_aggregator,
            llm,
            tts,
            transport.output(),
            assistant_aggregator,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=8000,
            audio_out_sample_rate=8000,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport: Any, _client: Any) -> None:
        await worker.queue_frames([TTSSpeakFrame(FIRST_MESSAGE)])

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: Any, _client: Any) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800, help="0: any free port")
    parser.add_argument("--url-file", type=Path, default=None, help="write the bound URL here")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logger.remove()
    logger.add(lambda m: print(m, end=""), level=args.log_level)
    logging.basicConfig(level=args.log_level)
    providers = json.loads(args.config.read_text())
    # Bound here so that --port 0 works: TwiML names the real port, and the caller reads it.
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(2048)
    port = listener.getsockname()[1]
    app = build_app(providers, f"ws://{args.host}:{port}/ws")
    if args.url_file is not None:
        partial = args.url_file.with_name(args.url_file.name + ".partial")
        partial.write_text(f"http://{args.host}:{port}\n")
        partial.replace(args.url_file)
    uvicorn.run(
        app,
        fd=listener.fileno(),
        log_level=args.log_level.lower(),
        loop="uvloop",
        access_log=False,
    )


if __name__ == "__main__":
    main()
