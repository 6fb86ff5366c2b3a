"""Demo step: stream a chat answer with the official `ollama` client (OLLAMA_HOST)."""

from __future__ import annotations

import ollama


def main() -> None:
    client = ollama.Client()
    print(f"models: {[m.model for m in client.list().models]}")
    stream = client.chat(
        model="tiny",
        messages=[{"role": "user", "content": "Hello, how are you today?"}],
        stream=True,
        options={"num_predict": 16, "seed": 1},
    )
    last = None
    for chunk in stream:
        print(chunk.message.content, end="", flush=True)
        last = chunk
    assert last is not None
    assert last.done
    print(
        f"\ndone_reason={last.done_reason} prompt_eval_count={last.prompt_eval_count} "
        f"eval_count={last.eval_count} total_duration={last.total_duration}ns"
    )


if __name__ == "__main__":
    main()
