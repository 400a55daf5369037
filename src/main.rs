use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use mintflow::cli::{Cli, Command, LogFormat};
use mintflow::config::Secret;
use mintflow::engine::EngineConfig;
use mintflow::service::{Service, ServiceConfig};
use mintflow::{api, store, workflows};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // `dev` uses a fresh database of its own unless one was asked for.
    let database_url_given = matches
        .value_source("database_url")
        .is_some_and(|s| s != ValueSource::DefaultValue);
    init_tracing(cli.log_format);
    match cli.command {
        Command::Serve(args) => {
            let mut engine = EngineConfig::generated();
            if let Some(id) = args.worker_id {
                engine.worker_id = id;
            }
            engine.shutdown_grace = std::time::Duration::from_secs(args.shutdown_grace_secs);
            let config = ServiceConfig {
                database_url: cli.database_url,
                database_max_connections: args.database_max_connections,
                listen_addr: args.listen_addr,
                admin_token: Secret::from_value_or_file(
                    args.admin_token.as_ref(),
                    args.admin_token_file.as_deref(),
                )?,
                public_reads: args.public_reads,
                role: args.role,
                engine,
                chain: args.chain.setup(&args.contracts)?,
                limits: args.limits,
                edge: args.edge,
                webhook_targets: args.webhook_targets,
            };
            Service::start(config, workflows::registry)
                .await?
                .run_until_signal()
                .await
        }
        Command::Deploy(args) => mintflow::cli::deploy::run(&cli.database_url, args).await,
        Command::Dev(args) => {
            let url = database_url_given.then_some(cli.database_url);
            mintflow::cli::dev::run(url, args).await
        }
        Command::Migrate => {
            let db = store::connect(&cli.database_url).await?;
            store::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", api::spec_json());
            Ok(())
        }
        Command::Workflows(cmd) => {
            let db = store::connect(&cli.database_url).await?;
            mintflow::cli::workflows::run(&db, cmd).await
        }
        Command::Webhooks(cmd) => {
            let db = store::connect(&cli.database_url).await?;
            mintflow::cli::webhooks::run(&db, cmd).await
        }
        Command::Keys(cmd) => {
            let db = store::connect(&cli.database_url).await?;
            store::migrate(&db).await?;
            mintflow::cli::keys::run(&db, cmd).await
        }
        Command::ImportLegacy(args) => {
            let db = store::connect(&cli.database_url).await?;
            store::migrate(&db).await?;
            mintflow::cli::import_legacy::run(&db, args).await
        }
        Command::Tokens(cmd) => mintflow::cli::tokens::run(&cli.database_url, cmd).await,
        Command::Archive(args) => {
            let db = store::connect(&cli.database_url).await?;
            store::migrate(&db).await?;
            mintflow::cli::archive::run(&db, &args).await
        }
        Command::Doctor(args) => match mintflow::cli::doctor::run(&cli.database_url, *args).await {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(1),
            Err(e) => {
                eprintln!("Error: {e:#}");
                std::process::exit(2)
            }
        },
        #[cfg(feature = "bench")]
        Command::Bench(cmd) => mintflow::bench::run(cmd).await,
    }
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Logs without `RUST_LOG`: info, but no line per HTTP request (at thousands of requests per
/// second that costs a core; `RUST_LOG=info,poem::middleware::tracing_mw=info` brings it back).
const DEFAULT_LOG_FILTER: &str =
    "info,sqlx=warn,tokio_cron_scheduler=warn,poem::middleware::tracing_mw=warn";
