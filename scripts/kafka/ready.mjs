// Exits 0 when the Kafka broker at $1 (host:port) answers a metadata request and lists node $2 among its live
// brokers: the listener is up, requests are handled, and the broker is registered and unfenced. Exits 1 otherwise,
// at once (no retries: scripts/services.sh polls). Used by `scripts/services.sh up`; needs `npm ci`.
import { Kafka, logLevel } from "kafkajs";

const [broker, nodeId] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: "parley-probe",
  brokers: [broker],
  connectionTimeout: 1000,
  requestTimeout: 2000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
try {
  await admin.connect();
  const { brokers } = await admin.describeCluster();
  process.exitCode = brokers.some((b) => b.nodeId === Number(nodeId)) ? 0 : 1;
} catch {
  process.exitCode = 1;
} finally {
  await admin.disconnect().catch(() => {});
}
