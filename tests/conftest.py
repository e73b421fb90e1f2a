import os
import uuid

# Before any project module is imported: this session's topics and consumer groups are its own, so tests
# sharing a broker with another session (or a `make run`) never see each other's messages.
os.environ.setdefault("KAFKA_TOPIC_PREFIX", f"test-{uuid.uuid4().hex[:8]}.")
os.environ.setdefault("KAFKA_GROUP_PREFIX", os.environ["KAFKA_TOPIC_PREFIX"] + "pipeline")

pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.aurora_sim", "tests.fixtures.pipeline"]
