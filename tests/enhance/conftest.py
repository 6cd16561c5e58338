"""Markers used by the enhancement tests."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "llm_smoke: runs a real local model (llama-cpp-python server + SmolLM2-135M GGUF)"
    )
