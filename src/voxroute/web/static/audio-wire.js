/*
 * voxroute softphone: G.711 μ-law codec, 8 kHz downsampler, 20 ms framing and the
 * Twilio Media Streams messages the page sends. No DOM: the page and the test suite
 * (node) load this same file.
 */
(function (root) {
  "use strict";

  const RATE = 8000;
  const FRAME_BYTES = 160; // 20 ms of 8 kHz μ-law
  const SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];

  /** One 16-bit sample to μ-law; bit-exact with CPython's audioop.lin2ulaw (Sun G.711). */
  function linearToUlaw(sample) {
    let pcm = sample >> 2; // 14-bit magnitude, arithmetic shift as in audioop
    let mask = 0xff;
    if (pcm < 0) {
      pcm = -pcm;
      mask = 0x7f;
    }
    if (pcm > 8159) pcm = 8159;
    pcm += 0x21;
    let seg = 0;
    while (seg < 8 && pcm > SEG_END[seg]) seg += 1;
    if (seg >= 8) return 0x7f ^ mask;
    return (((seg << 4) | ((pcm >> (seg + 1)) & 0x0f)) ^ mask) & 0xff;
  }

  /** One μ-law byte to a 16-bit sample; bit-exact with audioop.ulaw2lin. */
  function ulawToLinear(code) {
    const u = ~code & 0xff;
    let t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return u & 0x80 ? 0x84 - t : t - 0x84;
  }

  function encodeUlaw(int16) {
    const out = new Uint8Array(int16.length);
    for (let i = 0; i < int16.length; i += 1) out[i] = linearToUlaw(int16[i]);
    return out;
  }

  function decodeUlaw(bytes) {
    const out = new Int16Array(bytes.length);
    for (let i = 0; i < bytes.length; i += 1) out[i] = ulawToLinear(bytes[i]);
    return out;
  }

  function floatToInt16(x) {
    const v = Math.round(x * 32768);
    return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }

  /** RBJ biquad low-pass (transposed direct form II). */
  class LowPass {
    constructor(rate, cutoff, q) {
      const w0 = (2 * Math.PI * cutoff) / rate;
      const alpha = Math.sin(w0) / (2 * q);
      const cos = Math.cos(w0);
      const a0 = 1 + alpha;
      this.b0 = (1 - cos) / 2 / a0;
      this.b1 = (1 - cos) / a0;
      this.b2 = this.b0;
      this.a1 = (-2 * cos) / a0;
      this.a2 = (1 - alpha) / a0;
      this.z1 = 0;
      this.z2 = 0;
    }

    step(x) {
      const y = this.b0 * x + this.z1;
      this.z1 = this.b1 * x - this.a1 * y + this.z2;
      this.z2 = this.b2 * x - this.a2 * y;
      return y;
    }
  }

  /**
   * Streaming resampler to 8 kHz: a 4th-order Butterworth low-pass at 3.4 kHz (the telephone
   * band) removes what would alias, then linear interpolation picks the 8 kHz instants. At
   * 8 kHz in, samples pass through unchanged.
   */
  class Downsampler {
    constructor(inputRate) {
      if (!(inputRate >= RATE)) throw new Error("input rate must be at least 8000 Hz");
      this.ratio = inputRate / RATE;
      // Two biquads with the Q factors of a 4th-order Butterworth: flat, then -24 dB/octave.
      this.filters = inputRate > RATE ? [0.5412, 1.3066].map((q) => new LowPass(inputRate, 3400, q)) : [];
      this.index = 0; // index of the next input sample
      this.at = 0; // input-sample position of the next output sample
      this.prev = 0;
    }

    push(input) {
      const out = [];
      for (let i = 0; i < input.length; i += 1) {
        let x = input[i];
        for (const filter of this.filters) x = filter.step(x);
        while (this.at <= this.index) {
          const frac = this.at - (this.index - 1); // in (0, 1]: between prev and x
          out.push(frac >= 1 ? x : this.prev + (x - this.prev) * frac);
          this.at += this.ratio;
        }
        this.prev = x;
        this.index += 1;
      }
      return out;
    }
  }

  /** Float samples at the capture rate in, 160-byte μ-law frames (20 ms at 8 kHz) out. */
  class UplinkEncoder {
    constructor(inputRate) {
      this.down = new Downsampler(inputRate);
      this.frame = new Uint8Array(FRAME_BYTES);
      this.filled = 0;
    }

    push(input) {
      const frames = [];
      for (const x of this.down.push(input)) {
        this.frame[this.filled] = linearToUlaw(floatToInt16(x));
        this.filled += 1;
        if (this.filled === FRAME_BYTES) {
          frames.push(this.frame);
          this.frame = new Uint8Array(FRAME_BYTES);
          this.filled = 0;
        }
      }
      return frames;
    }
  }

  function toBase64(bytes) {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary);
  }

  function fromBase64(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
    return out;
  }

  /** A received `media` payload as float samples at 8 kHz, ready for an AudioBuffer. */
  function decodeMediaPayload(payload) {
    const pcm = decodeUlaw(fromBase64(payload));
    const out = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i += 1) out[i] = pcm[i] / 32768;
    return out;
  }

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    root.crypto.getRandomValues(buf);
    return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The caller's side of Twilio Media Streams, as a phone line would send it. */
  class StreamMessages {
    constructor({ callSid, accountSid, callToken, streamSid }) {
      this.callSid = callSid;
      this.accountSid = accountSid;
      this.callToken = callToken;
      this.streamSid = streamSid || "MZ" + randomHex(16);
      this.seq = 0;
      this.chunk = 0;
    }

    next() {
      this.seq += 1;
      return String(this.seq);
    }

    connected() {
      return { event: "connected", protocol: "Call", version: "1.0.0" };
    }

    start() {
      return {
        event: "start",
        sequenceNumber: this.next(),
        streamSid: this.streamSid,
        start: {
          streamSid: this.streamSid,
          accountSid: this.accountSid,
          callSid: this.callSid,
          tracks: ["inbound"],
          customParameters: { call_token: this.callToken },
          mediaFormat: { encoding: "audio/x-mulaw", sampleRate: RATE, channels: 1 },
        },
      };
    }

    media(frame) {
      this.chunk += 1;
      return {
        event: "media",
        sequenceNumber: this.next(),
        streamSid: this.streamSid,
        media: {
          track: "inbound",
          chunk: String(this.chunk),
          timestamp: String((this.chunk - 1) * 20),
          payload: toBase64(frame),
        },
      };
    }

    mark(name) {
      return {
        event: "mark",
        sequenceNumber: this.next(),
        streamSid: this.streamSid,
        mark: { name: name },
      };
    }

    stop() {
      return {
        event: "stop",
        sequenceNumber: this.next(),
        streamSid: this.streamSid,
        stop: { accountSid: this.accountSid, callSid: this.callSid },
      };
    }
  }

  const api = {
    RATE,
    FRAME_BYTES,
    linearToUlaw,
    ulawToLinear,
    encodeUlaw,
    decodeUlaw,
    floatToInt16,
    Downsampler,
    UplinkEncoder,
    toBase64,
    fromBase64,
    decodeMediaPayload,
    StreamMessages,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.VoxAudio = api;
})(globalThis);
