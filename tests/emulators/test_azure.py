"""The Azure Speech emulator: REST with regions, and the native SDK over USP."""

from __future__ import annotations

from asyncio import to_thread

import aiohttp
import azure.cognitiveservices.speech as speechsdk

from voxroute.emulators import EmulatorSuite

from .conftest import AUDIO_DIR

KEY = "azure-test-key-0123456789"
SSML = (
    "<speak version='1.0' xml:lang='en-US'>"
    "<voice name='en-US-AvaMultilingualNeural'>Hello there</voice></speak>"
)
INVALID = "Access denied due to invalid subscription key or wrong API endpoint."


async def test_issue_token_works_only_in_the_keys_region(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    key_id = suite.register_key("azure", KEY, region="eastus")
    base = suite.base_urls["azure"]
    headers = {"Ocp-Apim-Subscription-Key": KEY}
    async with http.post(f"{base}/eastus/sts/v1.0/issueToken", headers=headers) as ok:
        token = await ok.text()
    assert ok.status == 200 and KEY not in token
    async with http.post(f"{base}/westus/sts/v1.0/issueToken", headers=headers) as wrong:
        assert wrong.status == 401
        assert (await wrong.json())["error"]["message"].startswith(INVALID)
    async with http.post(
        f"{base}/eastus/cognitiveservices/v1",
        data=SSML,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/ssml+xml",
            "X-Microsoft-OutputFormat": "raw-8khz-8bit-mono-mulaw",
        },
    ) as speech:
        audio = await speech.read()
    assert speech.status == 200 and len(audio) == round(0.06 * 11 * 8000)
    assert [(r.status, r.key_id) for r in suite.requests("azure")] == [
        (200, key_id),
        (401, key_id),
        (200, key_id),
    ]


async def test_rest_tts_refuses_bad_ssml_and_lists_voices(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("azure", KEY, region="westeurope")
    base = suite.base_urls["azure"] + "/westeurope"
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/ssml+xml"}
    async with http.post(base + "/cognitiveservices/v1", data="<speak>oops", headers=headers) as r:
        assert r.status == 400
    async with http.get(base + "/cognitiveservices/voices/list", headers=headers) as r:
        assert r.status == 200 and (await r.json())[0]["ShortName"]


def recognize(endpoint: str, key: str) -> speechsdk.SpeechRecognitionResult:
    config = speechsdk.SpeechConfig(subscription=key, endpoint=endpoint)
    fmt = speechsdk.audio.AudioStreamFormat(
        samples_per_second=16000, bits_per_sample=16, channels=1
    )
    stream = speechsdk.audio.PushAudioInputStream(stream_format=fmt)
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    stream.write((AUDIO_DIR / "utterance-02.pcm16k.wav").read_bytes()[44:])
    stream.close()
    return recognizer.recognize_once_async().get()


async def test_speech_sdk_recognizes_over_usp(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("azure", KEY, region="eastus")
    suite.set_script(["What time do you open on Saturday?"], provider="azure")
    ws = suite.base_urls["azure"].replace("http", "ws")
    endpoint = f"{ws}/eastus/speech/recognition/interactive/cognitiveservices/v1"
    result = await to_thread(recognize, endpoint, KEY)
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech
    assert result.text == "What time do you open on Saturday?"
    wrong_region = await to_thread(recognize, endpoint.replace("eastus", "westus"), KEY)
    assert wrong_region.reason == speechsdk.ResultReason.Canceled
    assert "401" in wrong_region.cancellation_details.error_details
    assert [(r.status, r.key_id) for r in suite.requests("azure")] == [(101, key_id), (401, key_id)]


async def test_speech_sdk_synthesizes_over_usp(suite: EmulatorSuite) -> None:
    suite.register_key("azure", KEY, region="eastus")
    ws = suite.base_urls["azure"].replace("http", "ws")

    def synthesize() -> speechsdk.SpeechSynthesisResult:
        config = speechsdk.SpeechConfig(
            subscription=KEY, endpoint=f"{ws}/eastus/cognitiveservices/websocket/v1"
        )
        config.set_speech_synthesis_output_format(
            speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm
        )
        synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        return synthesizer.speak_ssml_async(SSML).get()

    result = await to_thread(synthesize)
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted
    assert len(result.audio_data) == round(0.06 * 11 * 24000) * 2
