// ONNX Runtime side of the benchmark (onnxruntime-node, CPU execution provider), on the
// models bench/models.py exported with torch.onnx.export. One JSON line per
// (model, batch, threads). Usage: node bench/bench_ort.js [batches] [threads] [seconds] [models]
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const out = path.join(__dirname, 'out');
const meta = JSON.parse(fs.readFileSync(path.join(out, 'models.json')));
const batches = (process.argv[2] || '1,8,32').split(',').map(Number);
const threadCounts = (process.argv[3] || '1,2').split(',').map(Number);
const seconds = Number(process.argv[4] || 1);
const names = (process.argv[5] || Object.keys(meta).join(',')).split(',');

function nowMs() { return Number(process.hrtime.bigint()) / 1e6; }

async function measure(session, feeds) {
  const warmEnd = nowMs() + Math.min(300, seconds * 1000 / 3);
  while (nowMs() < warmEnd) await session.run(feeds);
  const times = [];
  const end = nowMs() + seconds * 1000;
  while (nowMs() < end || times.length < 10) {
    const t0 = nowMs();
    await session.run(feeds);
    times.push(nowMs() - t0);
  }
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)], times[Math.floor(times.length / 10)], times.length];
}

async function main() {
  for (const threads of threadCounts) {
    for (const name of names) {
      const session = await ort.InferenceSession.create(path.join(out, 'onnx', `${name}.onnx`), {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      for (const batch of batches) {
        const shape = [batch, ...meta[name].shape];
        const length = shape.reduce((a, b) => a * b);
        // Token ids in [0, vocab) for the models that take them, else uniform floats.
        const feeds = meta[name].dtype === 'int64'
            ? {input: new ort.Tensor('int64', BigInt64Array.from({length},
                () => BigInt(Math.floor(Math.random() * meta[name].vocab))), shape)}
            : {input: new ort.Tensor('float32', Float32Array.from({length}, () => Math.random() * 2 - 1),
                                     shape)};
        const [median, p10, n] = await measure(session, feeds);
        console.log(JSON.stringify({engine: 'onnxruntime', model: name, batch, threads,
                                    median_ms: median, p10_ms: p10, iterations: n}));
      }
    }
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
