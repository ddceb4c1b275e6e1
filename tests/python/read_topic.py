"""An independent client reads an eosflow topic: confluent-kafka's Consumer (read_committed) and
AvroDeserializer with SchemaRegistryClient against eosflow's registry. It decodes every record and
recomputes each key as UUIDv5(eosflow namespace, canonical identity) on its own.

usage: read_topic.py BOOTSTRAP REGISTRY_URL TOPIC   -> prints one JSON summary line
"""
import json
import sys
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

bootstrap, registry_url, topic = sys.argv[1:4]
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:eosflow:user-identity")
FIELDS = ["first_name", "last_name", "gender", "address", "post_code", "email", "username",
          "dob", "registered_date", "phone", "picture"]

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "python-independent-reader",
    "enable.auto.commit": False,
    "isolation.level": "read_committed",
    # The end of a transactional partition lies past its commit marker, which is never
    # delivered: the end-of-partition event says the partition is read to its end.
    "enable.partition.eof": True,
})
metadata = consumer.list_topics(topic, timeout=20)
partitions = sorted(metadata.topics[topic].partitions)
ends = {}
for p in partitions:
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
    if high > low:
        ends[p] = high
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
ctx = SerializationContext(topic, MessageField.VALUE)

records, keys, mismatches, incomplete, schema_ids = 0, set(), 0, 0, set()
idle = 0
while ends and idle < 100:
    msg = consumer.poll(0.2)
    if msg is None:
        idle += 1
        continue
    if msg.error():
        if msg.error().code() == KafkaError._PARTITION_EOF:
            ends.pop(msg.partition(), None)
            continue
        raise SystemExit(f"consumer error: {msg.error()}")
    idle = 0
    value = msg.value()
    schema_ids.add(int.from_bytes(value[1:5], "big"))
    user = deserialize(value, ctx)
    records += 1
    canonical = json.dumps([user["source_name"], user["source_seed"], user["source_page"],
                            user["source_index"]], separators=(",", ":"), ensure_ascii=False)
    key = str(uuid.uuid5(NAMESPACE, canonical))
    keys.add(key)
    if msg.key().decode() != key:
        mismatches += 1
    if any(not user.get(f) for f in FIELDS) or "password" in user:
        incomplete += 1
    if msg.offset() + 1 >= ends.get(msg.partition(), 0):
        ends.pop(msg.partition(), None)
consumer.close()
print(json.dumps({"records": records, "distinct_keys": len(keys), "key_mismatches": mismatches,
                  "incomplete": incomplete, "schema_ids": sorted(schema_ids),
                  "unfinished_partitions": sorted(ends)}))
