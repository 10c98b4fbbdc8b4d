//! What changes from outside the loop: the EOS `daemon` options, re-read on their interval and on
//! SIGHUP (live settings applied, restart settings reported), and the management namespace,
//! which EOS may recreate under the agent.

use tokio::time::{Instant, Interval};

use super::{startup, ticker, Daemon, Restart, Ticker};
use crate::config::{read_options, Apply, Config};
use crate::netns;

impl Daemon {
    /// Looks at the management namespace (one `stat`); a restart when EOS replaced it: every
    /// thread of the process is in the old one, so the agent exits for ProcMgr to restart it.
    pub(super) fn watch_namespace(&mut self) -> Option<Restart> {
        let (entered, last) = self.namespace.as_mut()?;
        let now = entered.watch();
        if now == *last {
            return None;
        }
        *last = now;
        match now {
            netns::Watch::Same => {
                tracing::info!(namespace = %entered.name, "the management namespace is back");
                None
            }
            netns::Watch::Gone => {
                tracing::warn!(namespace = %entered.name, path = %entered.path.display(), "the management namespace was deleted; the agent keeps running in it until EOS recreates it");
                None
            }
            netns::Watch::Replaced { inode } => Some(Restart::NamespaceReplaced {
                name: entered.name.clone(),
                was: entered.inode,
                now: inode,
            }),
        }
    }

    /// Applies changed live options; a restart when the daemon must restart instead.
    pub(super) async fn reload_options(
        &mut self,
        bgp_tick: &mut Ticker,
        options_tick: &mut Interval,
    ) -> Option<Restart> {
        let options = match read_options(&self.eapi, &self.config.daemon_name).await {
            Ok(options) => options,
            Err(error) => {
                tracing::debug!(%error, "cannot re-read the daemon's EOS options");
                return None;
            }
        };
        if self.options.as_ref() == Some(&options) {
            return None;
        }
        let options_unread = self.options.replace(options.clone()).is_none();
        let (newer, issues) = match Config::resolve(&self.args, &options) {
            Ok(resolved) => resolved,
            Err(error) => {
                tracing::warn!(%error, "the daemon's EOS options are invalid; keeping the running configuration");
                return None;
            }
        };
        let changes = self.resolved.changes(&newer);
        let restart = startup::restart_for_late_options(options_unread, &changes);
        if restart.is_some() {
            return restart;
        }
        startup::report(&issues);
        self.resolved = newer.clone();
        for (name, apply) in &changes {
            match apply {
                Apply::Live => tracing::info!(option = name, "option changed; applied"),
                Apply::Restart => tracing::warn!(
                    option = name,
                    "option changed; it takes effect after a restart (shutdown, then no shutdown)"
                ),
            }
        }
        let config = &mut self.config;
        if config.bgp_interval != newer.bgp_interval {
            *bgp_tick = Ticker::new(newer.bgp_interval, Instant::now() + newer.bgp_interval);
        }
        if config.options_interval != newer.options_interval {
            *options_tick = ticker(
                newer.options_interval,
                Instant::now() + newer.options_interval,
            );
        }
        self.level.set_verbose(newer.verbose);
        self.level.set_target(newer.log);
        self.cache.set_policy(newer.cache);
        // Only live settings change; restart settings keep the values the daemon started with.
        config.bgp_interval = newer.bgp_interval;
        config.stream_interval = newer.stream_interval;
        config.options_interval = newer.options_interval;
        config.policy = newer.policy;
        config.cache = newer.cache;
        config.verbose = newer.verbose;
        config.log = newer.log;
        // The policy decides: a pass skipped under the old one must run under the new.
        self.quiet = None;
        None
    }
}
