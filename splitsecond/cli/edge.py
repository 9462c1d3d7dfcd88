"""``splitsecond edge --server HOST:PORT``: a local OpenAI-compatible endpoint that drafts here and
verifies on a ``splitsecond serve --speculative-edge`` server (SpecEdge-style)."""

from __future__ import annotations

import typer

from splitsecond.cli import app


@app.command()
def edge(
    server: str = typer.Option(..., "--server", help="The verifier's gRPC address, host:port."),
    model: str = typer.Option(
        "smollm2-135m", help="The served model (its tokenizer; weights for model drafts)."
    ),
    draft: str = typer.Option(
        "suffix",
        help="Draft source: prompt-lookup, suffix (this edge's earlier outputs + prompt lookup), "
        "self:N (first N layers), model, model:NAME, none.",
    ),
    host: str = typer.Option("127.0.0.1", help="Interface of the local API."),
    port: int = typer.Option(8100, help="TCP port of the local API."),
    max_draft_tokens: int = typer.Option(8, help="Longest draft per round."),
    adaptive: bool = typer.Option(True, "--adaptive/--fixed", help="Adapt k to the observed acceptance."),
    proactive: bool = typer.Option(
        True, "--proactive/--no-proactive", help="Draft while a round is in flight."
    ),
    plain_fallback: bool = typer.Option(
        True,
        "--plain-fallback/--always-draft",
        help="Let the server decode alone while drafting is measured slower than that.",
    ),
    one_way_delay_ms: float = typer.Option(0.0, help="Emulated network delay per message and direction."),
    max_model_len: int = typer.Option(2048, help="Prompt + output tokens per request."),
    verify_timeout_s: float = typer.Option(
        30.0, help="Longest wait for the server's verdict on a session's prompt or a round."
    ),
    free_run_tokens: int = typer.Option(
        4, help="Tokens the server decodes on its own when there is nothing worth drafting (0: never)."
    ),
    draft_temperature: float = typer.Option(0.0, help="Sample drafts at this temperature (0: greedy)."),
    suffix_cache_tokens: int = typer.Option(
        1 << 18, help="--draft suffix: tokens of earlier outputs kept to draft from (oldest dropped first)."
    ),
    num_threads: int = typer.Option(1, help="torch CPU threads for model drafts."),
    suffix_with_model: bool = typer.Option(
        True,
        "--suffix-with-model/--model-only",
        help="--draft model:NAME: keep the suffix source beside the model (its draft goes out when it "
        "predicts all k tokens, and the model is not run).",
    ),
    draft_vocab: int | None = typer.Option(
        None, help="Model drafts score only the first N token ids (+ EOS): a cheaper LM head (default: all)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="SPLITSECOND_API_KEY", help="Require 'Authorization: Bearer <key>' on /v1."
    ),
    api_key_file: str | None = typer.Option(
        None,
        "--api-key-file",
        help="File holding the key the verifier requires (serve --api-key); default: $SPLITSECOND_API_KEY. "
        "Never given on the command line.",
    ),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve the OpenAI API locally; every request drafts here and is verified by the server."""
    from splitsecond.serving.server import ServerConfig
    from splitsecond.serving.server.config import read_api_key_file
    from splitsecond.serving.speculative.edge.config import EdgeConfig
    from splitsecond.serving.speculative.edge.server import run_edge

    try:
        verifier_key = read_api_key_file(api_key_file) if api_key_file else ServerConfig.api_key_from_env()
        edge_config = EdgeConfig(
            server=server,
            model=model,
            draft=draft,
            max_draft_tokens=max_draft_tokens,
            adaptive=adaptive,
            proactive=proactive,
            plain_fallback=plain_fallback,
            one_way_delay_ms=one_way_delay_ms,
            max_model_len=max_model_len,
            open_timeout_s=verify_timeout_s,
            round_timeout_s=verify_timeout_s,
            draft_temperature=draft_temperature,
            free_run_tokens=free_run_tokens,
            num_threads=num_threads,
            suffix_cache_tokens=suffix_cache_tokens,
            suffix_with_model=suffix_with_model,
            draft_vocab=draft_vocab,
            api_key=verifier_key,
        )
        server_config = ServerConfig(host=host, port=port, api_key=api_key or None, log_level=log_level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"splitsecond edge: http://{host}:{port}/v1 -> verifier {server} (draft: {draft})", err=True)
    run_edge(edge_config, server_config)
