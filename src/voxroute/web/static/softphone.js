/*
 * Browser softphone: microphone → 8 kHz μ-law 20 ms frames → Twilio Media Streams websocket
 * (the same stream handler and pipeline as a phone call); received audio is played, `mark`s
 * are answered once their audio has played, `clear` flushes playback.
 */
(function () {
  "use strict";
  const { api, el, $, replace, say, describeError, traceTable, costTable } = globalThis.Vox;
  const { UplinkEncoder, StreamMessages, decodeMediaPayload, RATE } = globalThis.VoxAudio;
  const JITTER_S = 0.06;

  let current = null;

  function log(text) {
    const item = el("li", {}, new Date().toLocaleTimeString() + "  " + text);
    $("log").append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function status(text, kind) {
    say($("status"), text, kind);
  }

  /** Scheduled playback of 8 kHz chunks; marks fire when the audio queued before them ends. */
  class Playback {
    constructor(ctx, onMarkPlayed) {
      this.ctx = ctx;
      this.onMarkPlayed = onMarkPlayed;
      this.playhead = 0;
      this.sources = new Set();
      this.pending = [];
    }

    enqueue(samples) {
      if (samples.length === 0) return;
      const buffer = this.ctx.createBuffer(1, samples.length, RATE);
      buffer.copyToChannel(samples, 0);
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.ctx.destination);
      const earliest = this.ctx.currentTime + JITTER_S;
      if (this.playhead < earliest) this.playhead = earliest;
      source.start(this.playhead);
      this.playhead += buffer.duration;
      this.sources.add(source);
      source.addEventListener("ended", () => this.sources.delete(source));
    }

    mark(name) {
      const delay = Math.max(0, this.playhead - this.ctx.currentTime);
      const entry = { name, timer: 0 };
      entry.timer = setTimeout(() => {
        this.pending = this.pending.filter((e) => e !== entry);
        this.onMarkPlayed(name);
      }, delay * 1000);
      this.pending.push(entry);
    }

    /** Twilio's `clear`: drop queued audio and answer the pending marks at once. */
    clear() {
      for (const source of this.sources) {
        try {
          source.stop();
        } catch (_) {
          /* not started yet */
        }
      }
      this.sources.clear();
      this.playhead = 0;
      const pending = this.pending;
      this.pending = [];
      for (const entry of pending) {
        clearTimeout(entry.timer);
        this.onMarkPlayed(entry.name);
      }
    }

    close() {
      for (const entry of this.pending) clearTimeout(entry.timer);
      this.pending = [];
    }
  }

  /** Microphone chunks (Float32 at the context rate) to `onChunk`; returns a stop function. */
  async function startCapture(ctx, stream, onChunk) {
    const source = ctx.createMediaStreamSource(stream);
    const sink = ctx.createGain(); // nodes must reach the destination to be pulled; silent
    sink.gain.value = 0;
    sink.connect(ctx.destination);
    if (ctx.audioWorklet && typeof AudioWorkletNode !== "undefined") {
      await ctx.audioWorklet.addModule("/web/static/capture-worklet.js");
      const node = new AudioWorkletNode(ctx, "vox-capture", { channelCount: 1, channelCountMode: "explicit" });
      node.port.addEventListener("message", (event) => onChunk(event.data));
      node.port.start();
      source.connect(node);
      node.connect(sink);
      log("capturing with AudioWorklet at " + ctx.sampleRate + " Hz");
      return () => {
        source.disconnect();
        node.disconnect();
        node.port.close();
      };
    }
    const processor = ctx.createScriptProcessor(2048, 1, 1);
    processor.addEventListener("audioprocess", (event) => onChunk(new Float32Array(event.inputBuffer.getChannelData(0))));
    source.connect(processor);
    processor.connect(sink);
    log("capturing with ScriptProcessor at " + ctx.sampleRate + " Hz");
    return () => {
      source.disconnect();
      processor.disconnect();
    };
  }

  class LiveCall {
    constructor(ctx, stream, created) {
      this.ctx = ctx;
      this.stream = stream;
      this.id = created.call_id;
      this.streamUrl = created.stream_url;
      this.messages = new StreamMessages({
        callSid: created.call_sid,
        accountSid: created.account_sid,
        callToken: created.call_token,
      });
      this.encoder = new UplinkEncoder(ctx.sampleRate);
      this.playback = new Playback(ctx, (name) => this.send(this.messages.mark(name)));
      this.ws = null;
      this.stopCapture = null;
      this.heard = false;
      this.hungUp = false;
      this.closed = false;
    }

    send(message) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
    }

    async connect() {
      const ws = new WebSocket(this.streamUrl);
      this.ws = ws;
      await new Promise((resolve, reject) => {
        ws.addEventListener("open", resolve, { once: true });
        ws.addEventListener("error", () => reject(new Error("could not open the media stream")), { once: true });
      });
      ws.addEventListener("message", (event) => this.receive(event.data));
      ws.addEventListener("close", (event) => this.closedBy(event));
      this.send(this.messages.connected());
      this.send(this.messages.start());
      this.messages.callToken = ""; // single use: spent by `start`
      log("stream open; start sent");
      status("Connected; waiting for the assistant…");
      this.stopCapture = await startCapture(this.ctx, this.stream, (chunk) => this.microphone(chunk));
    }

    microphone(chunk) {
      let sum = 0;
      for (let i = 0; i < chunk.length; i += 1) sum += chunk[i] * chunk[i];
      $("level").value = Math.min(1, Math.sqrt(sum / Math.max(1, chunk.length)) * 5);
      if (this.hungUp) return;
      for (const frame of this.encoder.push(chunk)) this.send(this.messages.media(frame));
    }

    receive(data) {
      let message;
      try {
        message = JSON.parse(data);
      } catch (_) {
        return;
      }
      if (message.event === "media" && message.media && typeof message.media.payload === "string") {
        try {
          this.playback.enqueue(decodeMediaPayload(message.media.payload));
        } catch (_) {
          return; // bad base64: drop the chunk
        }
        if (!this.heard) {
          this.heard = true;
          status("Connected: speak now.", "ok");
          log("assistant audio arriving");
        }
      } else if (message.event === "mark" && message.mark && typeof message.mark.name === "string") {
        this.playback.mark(message.mark.name);
      } else if (message.event === "clear") {
        this.playback.clear();
        log("clear: playback flushed (barge-in)");
      }
    }

    hangUp() {
      if (this.hungUp || this.closed) return;
      this.hungUp = true;
      this.send(this.messages.stop());
      log("stop sent (hung up)");
      setTimeout(() => this.ws && this.ws.close(1000, "caller hung up"), 300);
    }

    closedBy(event) {
      if (this.closed) return;
      this.closed = true;
      if (this.stopCapture) this.stopCapture();
      for (const track of this.stream.getTracks()) track.stop();
      this.playback.close();
      if (this.ctx.state !== "closed") this.ctx.close().catch(() => {});
      const refused = event.code === 1008 || event.code === 1013;
      log("stream closed (code " + event.code + ")");
      status(refused ? "The server refused the stream (code " + event.code + ")." : "Call ended.", refused ? "error" : null);
      callEnded(this.id);
    }
  }

  function setBusy(busy) {
    $("call").disabled = busy || !$("assistant").value;
    $("hangup").disabled = !busy;
    $("assistant").disabled = busy;
  }

  async function showResult(id) {
    let call = null;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      call = await api("GET", "/calls/" + encodeURIComponent(id));
      if (call.status === "ended" && (call.cost || attempt >= 6)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    $("end-reason").textContent = call.end_reason || call.status;
    replace($("trace"), traceTable(call.resolution));
    replace($("cost"), el("h3", {}, "Cost"), costTable(call.cost));
  }

  function callEnded(id) {
    current = null;
    setBusy(false);
    $("level").value = 0;
    showResult(id).catch((err) => status(describeError(err), "error"));
  }

  async function placeCall() {
    const assistantId = $("assistant").value;
    if (!assistantId || current) return;
    setBusy(true);
    replace($("log"));
    replace($("trace"), el("p", { class: "muted" }, "Shown after the call ends."));
    replace($("cost"));
    $("call-id").textContent = "–";
    $("end-reason").textContent = "–";
    const ctx = new AudioContext(); // created in the click: allowed to play
    let stream = null;
    try {
      status("Asking for the microphone…");
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      status("Creating the call…");
      const created = await api("POST", "/calls/web", { assistant_id: assistantId });
      $("call-id").textContent = created.call_id;
      log("call " + created.call_id + " created");
      current = new LiveCall(ctx, stream, created);
      await current.connect();
    } catch (err) {
      if (current && current.ws) current.ws.close();
      if (stream) for (const track of stream.getTracks()) track.stop();
      if (ctx.state !== "closed") ctx.close().catch(() => {});
      current = null;
      setBusy(false);
      status(describeError(err), "error");
    }
  }

  async function loadAssistants() {
    const select = $("assistant");
    replace(select);
    setBusy(false);
    if (!globalThis.Vox.token()) {
      status("Paste an API token (owner or member) to place a test call.");
      return;
    }
    try {
      const assistants = await api("GET", "/assistants");
      const wanted = new URLSearchParams(globalThis.location.search).get("assistant");
      replace(
        select,
        assistants.map((a) => el("option", { value: a.id, selected: a.id === wanted }, a.name + " (" + a.id + ")"))
      );
      status(assistants.length ? "Ready." : "This organization has no assistants.");
    } catch (err) {
      status(describeError(err), "error");
    }
    setBusy(false);
  }

  $("call").addEventListener("click", placeCall);
  $("hangup").addEventListener("click", () => current && current.hangUp());
  $("assistant").addEventListener("change", () => setBusy(Boolean(current)));
  globalThis.addEventListener("pagehide", () => current && current.hangUp());
  globalThis.Vox.setupToken(loadAssistants);
})();
