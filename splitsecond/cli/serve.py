"""``splitsecond serve [MODEL]``: the OpenAI-compatible server over SplitSecond's own engine."""

from __future__ import annotations

import typer

from splitsecond.cli import app, fail


def _refuse_unservable(model: str) -> None:
    """Exit with one line, before the server starts, when MODEL is missing or the engine cannot run it."""
    from splitsecond.serving.loader.registry import resolve_model
    from splitsecond.serving.loader.support import check_supported

    try:
        check_supported(resolve_model(model))
    except (OSError, ValueError) as exc:
        fail(f"splitsecond serve: {exc}")


@app.command()
def serve(
    model: str = typer.Argument("smollm2-135m", help="Model short name or alias to serve."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, help="TCP port."),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="SPLITSECOND_API_KEY",
        help="Require 'Authorization: Bearer <key>' on /v1, /metrics and the edge verifier "
        "(prefer $SPLITSECOND_API_KEY or --api-key-file: ps shows the command line).",
    ),
    api_key_file: str | None = typer.Option(
        None, "--api-key-file", help="Read the API key from this file (instead of --api-key)."
    ),
    public_metrics: bool = typer.Option(
        False, "--public-metrics", help="Serve /metrics without the API key (for a Prometheus scraper)."
    ),
    max_body_bytes: int = typer.Option(4 * 2**20, help="Largest request body accepted (413 beyond)."),
    served_model_name: str | None = typer.Option(None, help="Name to serve the model under."),
    alias: list[str] = typer.Option([], "--alias", help="Further accepted model name (repeatable)."),
    dtype: str | None = typer.Option(None, help="Engine dtype (default: the engine's 'auto')."),
    device: str | None = typer.Option(None, help="Engine device (default: the engine's 'auto')."),
    block_size: int | None = typer.Option(None, help="KV-cache block size in tokens."),
    kv_cache_memory_mb: int | None = typer.Option(None, help="Memory for the KV cache, MiB."),
    max_num_seqs: int | None = typer.Option(None, help="Most sequences in one batch."),
    max_num_batched_tokens: int | None = typer.Option(None, help="Most tokens in one step."),
    max_model_len: int | None = typer.Option(None, help="Context length (default: the model's)."),
    max_waiting: int | None = typer.Option(None, help="Queued sequences (prompts x n) before answering 429."),
    prefix_caching: bool = typer.Option(
        True, "--prefix-caching/--no-prefix-caching", help="Reuse KV of shared prefixes."
    ),
    seed: int | None = typer.Option(None, help="Engine seed."),
    num_kv_blocks: int | None = typer.Option(None, help="KV-cache blocks (overrides --kv-cache-memory-mb)."),
    num_threads: int | None = typer.Option(None, help="torch CPU threads (default: the cores free to it)."),
    precision: str | None = typer.Option(
        None,
        help="Weights served at: source (the checkpoint's own, default), int8, int4 (CPU kernels), "
        "mixed:<fraction> (sensitive projections at source, the rest int4, until a decode step reads "
        "that fraction of the source's weight bytes; e.g. mixed:0.8) or bf16 (16-bit dense weights).",
    ),
    kv_swap_policy: str | None = typer.Option(
        None,
        help="Under KV memory pressure: auto (default: flash where the zone's folder is writable, "
        "sized from free disk), recompute, dram or flash swap.",
    ),
    kv_swap_path: str | None = typer.Option(None, help="Flash zone: a file or block device (flash policy)."),
    kv_swap_size_mb: int | None = typer.Option(None, help="Size of the flash zone, MiB (preallocated)."),
    kv_swap_io_backend: str | None = typer.Option(
        None, help="I/O path of the flash zone: auto (default), posix or kvikio."
    ),
    kv_cache_dram_swap_mb: int | None = typer.Option(
        None, "--kv-dram-swap-mb", help="Host-memory pool of the dram policy, MiB."
    ),
    speculative_edge: bool = typer.Option(
        False,
        "--speculative-edge",
        help="Also verify drafts of SpecEdge edges over gRPC (see `splitsecond edge`).",
    ),
    spec_host: str | None = typer.Option(
        None, help="Interface of the verifier's gRPC port (default: --host)."
    ),
    spec_port: int = typer.Option(50051, help="gRPC port edges connect to (--speculative-edge)."),
    spec_max_draft_tokens: int | None = typer.Option(None, help="Longest draft the verifier accepts."),
    spec_verify_token_budget: int | None = typer.Option(
        None, help="Verification tokens per step the draft-length advice aims at."
    ),
    spec_draft_timeout_s: float = typer.Option(30.0, help="Abort an edge session idle this long."),
    max_n: int = typer.Option(16, help="Largest n (choices per request) accepted."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve MODEL through an OpenAI-compatible API (chat, completions, models, health, metrics)."""
    from splitsecond.serving.server import ServerConfig, build_engine_config, run_server
    from splitsecond.serving.server.config import read_api_key_file

    _refuse_unservable(model)
    try:
        if api_key_file is not None:
            if api_key:
                raise ValueError("give the API key once: --api-key-file or --api-key/$SPLITSECOND_API_KEY")
            api_key = read_api_key_file(api_key_file)
        server_config = ServerConfig(
            host=host,
            port=port,
            api_key=api_key or None,
            public_metrics=public_metrics,
            max_body_bytes=max_body_bytes,
            served_model_name=served_model_name,
            model_aliases=tuple(alias),
            max_n=max_n,
            log_level=log_level,
        )
        engine_config = build_engine_config(
            model,
            dtype=dtype,
            device=device,
            block_size=block_size,
            kv_cache_memory_mb=kv_cache_memory_mb,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            max_model_len=max_model_len,
            max_waiting=max_waiting,
            enable_prefix_caching=prefix_caching,
            seed=seed,
            num_kv_blocks=num_kv_blocks,
            num_threads=num_threads,
            precision=precision,
            kv_swap_policy=kv_swap_policy,
            kv_swap_path=kv_swap_path,
            kv_swap_size_mb=kv_swap_size_mb,
            kv_swap_io_backend=kv_swap_io_backend,
            kv_dram_swap_mb=kv_cache_dram_swap_mb,
            spec_max_draft_tokens=spec_max_draft_tokens,
            spec_verify_token_budget=spec_verify_token_budget,
        )
        verifier_config = None
        if speculative_edge:
            from splitsecond.serving.speculative.verifier_service import VerifierConfig

            verifier_config = VerifierConfig(
                host=spec_host or host,
                port=spec_port,
                draft_timeout_s=spec_draft_timeout_s,
                api_key=server_config.api_key,
            )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"splitsecond serve: {model} on http://{host}:{port}/v1", err=True)
    if verifier_config is not None:
        typer.echo(
            f"splitsecond serve: edge verifier on {verifier_config.host}:{verifier_config.port}", err=True
        )
    run_server(engine_config, server_config, verifier_config)
