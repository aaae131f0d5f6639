// kafkajs against paas's broker: the everyday calls of an app, printed as one JSON line.
// Usage: node kafkajs_probe.js '<json>' with {brokers, ssl?, sasl?, topic, group, count}.
const { Kafka, logLevel } = require("kafkajs");

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const kafka = new Kafka({
    clientId: "kafkajs-probe",
    brokers: spec.brokers,
    ssl: spec.ssl || false,
    sasl: spec.sasl || undefined,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3 },
  });
  const out = {};
  const admin = kafka.admin();
  await admin.connect();
  out.topics = await admin.listTopics();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < spec.count; i++) messages.push({ key: `k${i % 3}`, value: `kafkajs ${i}` });
  const sent = await producer.send({ topic: spec.topic, messages, acks: -1 });
  out.sent = sent.length;
  await producer.disconnect();
  out.offsets = await admin.fetchTopicOffsets(spec.topic);
  const consumer = kafka.consumer({ groupId: spec.group, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 6000 });
  await consumer.connect();
  await consumer.subscribe({ topic: spec.topic, fromBeginning: true });
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${received.length} of ${spec.count}`)), 30000);
    consumer.run({
      eachMessage: async ({ message }) => {
        received.push(message.value.toString());
        if (received.length >= spec.count) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  out.received = received.sort();
  const described = await admin.describeGroups([spec.group]);
  out.group = { state: described.groups[0].state, members: described.groups[0].members.length, errorCode: described.groups[0].errorCode };
  await consumer.disconnect();
  await admin.disconnect();
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.log(JSON.stringify({ error: String(err && (err.message || err)), type: err && err.type }));
  process.exit(1);
});
