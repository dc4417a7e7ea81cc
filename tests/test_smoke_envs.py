from temporalio.testing import WorkflowEnvironment


async def test_time_skipping_server_starts(time_env: WorkflowEnvironment) -> None:
    assert time_env.supports_time_skipping


async def test_dev_server_starts(dev_env: WorkflowEnvironment) -> None:
    assert not dev_env.supports_time_skipping
