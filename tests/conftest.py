pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.aurora_sim", "tests.fixtures.pipeline"]
