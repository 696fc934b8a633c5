"""What the tests share besides fixtures: servers (in a thread, as processes), callers, builders of requests,
fakes of outside services. A test module imports from here, never from another test module or a conftest."""
