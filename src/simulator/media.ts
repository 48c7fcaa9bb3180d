/**
 * The simulator's result files, made per job so that they say what was asked: a video of the requested length and
 * aspect ratio, and a last frame of the job's own colour (chained shots are then told apart). Videos are real H.264
 * and AAC: a one-second fixture per aspect ratio (shipped in assets/, encoded once at 24 fps with a key frame at
 * its start) whose packets are repeated and remuxed by mediabunny to the requested length, without re-encoding.
 * The fixtures were made once, off the product, with `ffmpeg -f lavfi -i testsrc2=size=WxH:rate=24:duration=1 -f lavfi
 * -i sine=frequency=440:sample_rate=48000:duration=1 -c:v libx264 -profile:v baseline -pix_fmt yuv420p -g 24 -crf 30
 * -c:a aac -b:a 32k -shortest`, W x H being 336x144, 320x180, 240x180, 180x180, 180x240 and 180x320; nothing
 * needs ffmpeg to run or test the project.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ALL_FORMATS,
  BufferSource,
  BufferTarget,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  Input,
  type InputTrack,
  Mp4OutputFormat,
  Output,
} from 'mediabunny';
import { PNG } from 'pngjs';
import { packageAsset } from '../core/package-files.js';
import type { ASPECT_RATIOS } from '../domain/params.js';

type AspectRatio = (typeof ASPECT_RATIOS)[number];

/** Width over height of each fixture; "adaptive" follows the input image upstream, 16:9 here. */
const SHAPES: Record<Exclude<AspectRatio, 'adaptive'>, [number, number]> = {
  '21:9': [21, 9],
  '16:9': [16, 9],
  '4:3': [4, 3],
  '1:1': [1, 1],
  '3:4': [3, 4],
  '9:16': [9, 16],
};

function shapeOf(aspect: AspectRatio): [number, number] {
  return aspect === 'adaptive' ? SHAPES['16:9'] : SHAPES[aspect];
}

/** The fixture's file name: `sim-video-16x9.mp4`. */
export function fixtureName(aspect: AspectRatio): string {
  const [w, h] = shapeOf(aspect);
  return `sim-video-${w}x${h}.mp4`;
}

async function packetsOf(track: InputTrack): Promise<EncodedPacket[]> {
  const packets: EncodedPacket[] = [];
  for await (const packet of new EncodedPacketSink(track).packets()) packets.push(packet);
  return packets;
}

/** A fixture repeated to `seconds` (whole seconds: the fixture lasts one), remuxed into one MP4. */
async function loopFixture(fixture: Uint8Array, seconds: number): Promise<Buffer> {
  const input = new Input({ formats: ALL_FORMATS, source: new BufferSource(fixture) });
  try {
    const video = await input.getPrimaryVideoTrack();
    const audio = await input.getPrimaryAudioTrack();
    if (video === null || audio === null || video.codec === null || audio.codec === null)
      throw new Error('simulator fixture lacks a video or an audio track');
    const [videoPackets, audioPackets, videoConfig, audioConfig] = await Promise.all([
      packetsOf(video),
      packetsOf(audio),
      video.getDecoderConfig(),
      audio.getDecoderConfig(),
    ]);
    if (videoConfig === null || audioConfig === null)
      throw new Error('simulator fixture has no decoder config');
    const output = new Output({
      format: new Mp4OutputFormat({ fastStart: 'in-memory' }),
      target: new BufferTarget(),
    });
    const videoOut = new EncodedVideoPacketSource(video.codec);
    const audioOut = new EncodedAudioPacketSource(audio.codec);
    output.addVideoTrack(videoOut);
    output.addAudioTrack(audioOut);
    await output.start();
    let first = true;
    for (let loop = 0; loop < seconds; loop++) {
      for (const p of videoPackets) {
        const shifted = new EncodedPacket(p.data, p.type, p.timestamp + loop, p.duration);
        await videoOut.add(shifted, first ? { decoderConfig: videoConfig } : undefined);
        first = false;
      }
    }
    // Audio frames do not divide a second evenly: they are laid end to end up to the length instead.
    first = true;
    let at = 0;
    for (let i = 0; ; i++) {
      const p = audioPackets[i % audioPackets.length];
      if (p === undefined || at + p.duration > seconds + 1e-6) break;
      await audioOut.add(
        new EncodedPacket(p.data, p.type, at, p.duration),
        first ? { decoderConfig: audioConfig } : undefined,
      );
      first = false;
      at += p.duration;
    }
    await output.finalize();
    const buffer = output.target.buffer;
    if (buffer === null) throw new Error('the simulated video was not written');
    return Buffer.from(buffer);
  } finally {
    input.dispose();
  }
}

export interface LastFrameSize {
  width: number;
  height: number;
  /** Every pixel varied: a frame that compresses as badly as a real photograph does. */
  noisy: boolean;
}

/** Short side of a last frame by default: inside Seedance's image limits, so that it can start the next shot. */
const FRAME_SHORT_SIDE = 360;

/** Last frames kept made (a noisy 1080p frame takes a while to encode); the oldest is dropped beyond this. */
const FRAMES_KEPT = 32;

export class SimulatedMedia {
  private readonly videos = new Map<string, Promise<Buffer>>();
  private readonly frames = new Map<string, Buffer>();

  constructor(private readonly frameSize?: LastFrameSize) {}

  /** The video of a job: cached per shape and length, since every job of the same shape and length looks alike. */
  video(aspect: AspectRatio, seconds: number): Promise<Buffer> {
    const key = `${fixtureName(aspect)}:${seconds}`;
    let made = this.videos.get(key);
    if (made === undefined) {
      made = readFile(packageAsset(fixtureName(aspect))).then((fixture) => loopFixture(fixture, seconds));
      made.catch(() => this.videos.delete(key));
      this.videos.set(key, made);
    }
    return made;
  }

  /** A PNG in the job's own colour (from its id), a gradient across it, noise when asked. */
  lastFrame(jobId: string, aspect: AspectRatio): Buffer {
    const kept = this.frames.get(jobId);
    if (kept !== undefined) return kept;
    const frame = this.drawFrame(jobId, aspect);
    this.frames.set(jobId, frame);
    if (this.frames.size > FRAMES_KEPT) this.frames.delete(this.frames.keys().next().value ?? '');
    return frame;
  }

  private drawFrame(jobId: string, aspect: AspectRatio): Buffer {
    const [w, h] = shapeOf(aspect);
    const width = this.frameSize?.width ?? Math.round((FRAME_SHORT_SIDE * w) / Math.min(w, h));
    const height = this.frameSize?.height ?? Math.round((FRAME_SHORT_SIDE * h) / Math.min(w, h));
    const seed = createHash('sha256').update(jobId).digest();
    const png = new PNG({ width, height });
    let noise = seed.readUInt32LE(4) || 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        const shade = 0.5 + (0.5 * x) / width;
        let jitter = 0;
        if (this.frameSize?.noisy === true) {
          // xorshift32: cheap, deterministic per job.
          noise ^= noise << 13;
          noise ^= noise >>> 17;
          noise ^= noise << 5;
          jitter = (noise & 0x3f) - 32;
        }
        for (let c = 0; c < 3; c++) {
          png.data[i + c] = Math.max(0, Math.min(255, Math.round((seed[c] ?? 0) * shade + jitter)));
        }
        png.data[i + 3] = 255;
      }
    }
    return PNG.sync.write(png);
  }
}
