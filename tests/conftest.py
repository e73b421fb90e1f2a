import os
import uuid

# Before any project module is imported: this session's topics and consumer groups are its own, so tests
# sharing a broker with another session (or a `make run`) never see each other's messages.
os.environ.setdefault("KAFKA_TOPIC_PREFIX", f"test-{uuid.uuid4().hex[:8]}.")
os.environ.setdefault("KAFKA_GROUP_PREFIX", os.environ["KAFKA_TOPIC_PREFIX"] + "pipeline")
# One set of secrets for the whole session: the in-process apps under test and the service processes the
# `pipeline` fixture starts share one database, so they must encrypt and sign alike.
os.environ.setdefault("TOKEN_ENCRYPTION_KEYS", "test-token-key-one")
os.environ.setdefault("WEBHOOK_SIGNING_KEYS", "test-webhook-signing-key")

pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.aurora_sim", "tests.fixtures.pipeline"]


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    # Audits of everything the session produced run after every other test.
    items.sort(key=lambda item: item.get_closest_marker("audit") is not None)
