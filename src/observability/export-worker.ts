// The span exporter's encoding and transport, in a worker thread of its own (started by span-export.ts):
// batches arrive as SpanRecorder's records, their buffers transferred rather than copied; SpanEncoder
// writes them as OTLP protobuf, and the OpenTelemetry SDK's OTLP/HTTP exporter sends them (transport,
// headers, compression, timeouts and retries as the OTEL_EXPORTER_OTLP_* variables configure them, read
// from the environment the server had when the exporter was made); the records' buffer goes back to be
// written again.
//
// Why a thread: the SDK sends through node:http and node:stream, the code the server's own requests
// run through. From the request thread, sending cost that thread the sending itself and more: the
// exporter's requests, streams and sockets reach the type feedback V8 optimises that shared code by
// (counted, the request path's rows came to ~2,300 instructions a request less with batches not sent
// at all; docs/performance.md). A worker has its own heap and feedback, and runs on the other core
// when it is free. The protobuf is written here too (~5,000 instructions a request, counted on the
// request thread when it wrote it), and for http/json the conversion (~7 µs a span).
import { parentPort, workerData } from 'node:worker_threads';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { exportRequestJson } from './otlp-json.ts';
import { decodeSpans, requestHead, SpanEncoder } from './otlp-proto.ts';

/** What the worker is started with. */
export interface ExportWorkerInit {
  url: string;
  serviceName: string;
  /** The instrumentation scope's name. */
  scope: string;
  json: boolean;
  /** Exports at once, at most (the SDK exporter's concurrencyLimit). */
  concurrencyLimit: number;
  /** The protobuf buffer's first size, in bytes (a full batch's, about). */
  capacity: number;
}

/** A batch to send: its records (SpanRecorder.take()) are `length` bytes at `offset` in `buffer`, which was transferred. */
export interface ExportWorkerRequest { id: number; buffer: ArrayBuffer; offset: number; length: number; count: number }

/** A batch's outcome, with its records' buffer transferred back (none when the thread died before answering). */
export type ExportWorkerReply = { id: number; ok: true; buffer: ArrayBuffer } | { id: number; ok: false; error: string; buffer?: ArrayBuffer };

interface EncodedSpans { bytes: Buffer; count: number }

const init = workerData as ExportWorkerInit;
const port = parentPort!;

// The request's head (resource and scope) is written in front of a batch's spans, for http/protobuf; its
// largest (a length of 2^31 takes the longest varints) is kept free there.
const head = init.json ? undefined : (n: number) => requestHead(init.serviceName, init.scope, n);
const encoder = new SpanEncoder(init.capacity, head?.(2 ** 31 - 1).length ?? 0);

// The SDK's exporter is given batches already encoded: for protobuf the whole request, for JSON the spans to convert.
const serializer = {
  serializeRequest: ({ bytes }: EncodedSpans): Uint8Array =>
    init.json ? Buffer.from(exportRequestJson(decodeSpans(bytes), init.serviceName, init.scope)) : bytes,
  deserializeResponse: init.json ? JsonTraceSerializer.deserializeResponse : ProtobufTraceSerializer.deserializeResponse,
};
const exporter = new OTLPExporterBase<EncodedSpans>(createOtlpHttpExportDelegate(
  convertLegacyHttpOptions({ url: init.url, concurrencyLimit: init.concurrencyLimit }, 'TRACES', 'v1/traces', { 'Content-Type': init.json ? 'application/json' : 'application/x-protobuf' }),
  serializer, 'otlp_http_span_exporter', { name: 'span', countItems: (b: EncodedSpans) => b.count }, undefined,
));

/** Answers for a batch, giving its records' buffer back: sent, or failed with `error`. */
function answer(m: ExportWorkerRequest, error?: unknown): void {
  const reply: ExportWorkerReply = error === undefined ? { id: m.id, ok: true, buffer: m.buffer } : { id: m.id, ok: false, error: String(error), buffer: m.buffer };
  port.postMessage(reply, [m.buffer]);
}

// (No shutdown: the server stops the thread once every batch is answered, when the exporter has nothing left to do.)
port.on('message', (m: ExportWorkerRequest) => {
  let bytes: Buffer;
  try {
    encoder.addRecords(Buffer.from(m.buffer, m.offset, m.length));
    bytes = encoder.take(head);
  } catch (err) {
    // (A batch that cannot be encoded costs that batch, not the thread and the others in flight.)
    encoder.recycle(encoder.take());
    answer(m, err);
    return;
  }
  try {
    exporter.export({ bytes, count: m.count }, (result) => {
      // Accepted: the collector has read the whole body, so the protobuf's buffer is free again. A failed
      // export's stays here for the GC: a request that failed early (an error status before the body was
      // read, a timeout) may still be writing it. The records were done with once encoded.
      if (result.code !== ExportResultCode.SUCCESS) return answer(m, result.error ?? 'export failed');
      encoder.recycle(bytes);
      answer(m);
    });
  } catch (err) {
    // (A batch that cannot even be serialised costs that batch, not the thread and the others in flight.)
    answer(m, err);
  }
});
