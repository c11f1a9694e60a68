//! Routing: which sinks take an event, decided in one place for the log
//! pipeline, the inbound endpoint and `--dry-run`, and said in words when a
//! sink's event filter leaves an event out (the user asked for it, but
//! perhaps not on purpose).

use crate::config::EventFilter;

/// One sink and the events it takes.
#[derive(Debug, Clone)]
pub struct Route {
    pub sink: String,
    pub events: EventFilter,
    /// The variable that set the filter (`DISCORD_EVENTS`, or `WEBHOOK_EVENTS`
    /// for a sink that has no filter of its own).
    pub filter_var: &'static str,
}

/// Every configured sink's route, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

/// Where one event goes, and which sinks leave it out.
#[derive(Debug)]
pub struct Routing<'a> {
    pub to: Vec<&'a str>,
    pub filtered: Vec<&'a Route>,
}

impl Routes {
    pub fn new(routes: Vec<Route>) -> Routes {
        Routes(routes)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.iter()
    }

    /// The sinks that take `event`, and those whose filter leaves it out.
    pub fn route(&self, event: &str) -> Routing<'_> {
        let (to, filtered): (Vec<&Route>, Vec<&Route>) =
            self.0.iter().partition(|r| r.events.allows(event));
        Routing {
            to: to.into_iter().map(|r| r.sink.as_str()).collect(),
            filtered,
        }
    }

    /// The names of the sinks that take `event`.
    pub fn sinks_for(&self, event: &str) -> Vec<String> {
        self.route(event)
            .to
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

impl Routing<'_> {
    /// Why each filtering sink leaves the event out, e.g.
    /// `discord (DISCORD_EVENTS=user.* does not include it)`.
    pub fn filtered_reasons(&self) -> Vec<String> {
        self.filtered
            .iter()
            .map(|r| {
                format!(
                    "{} ({}={} does not include it)",
                    r.sink, r.filter_var, r.events
                )
            })
            .collect()
    }

    /// One line for a person: `→ webhook, telegram; left out by discord (…)`.
    pub fn describe(&self) -> String {
        let to = if self.to.is_empty() {
            "→ no sink".to_string()
        } else {
            format!("→ {}", self.to.join(", "))
        };
        match self.filtered_reasons() {
            r if r.is_empty() => to,
            r => format!("{to}; left out by {}", r.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_says_why_not() {
        let routes = Routes::new(vec![
            Route {
                sink: "webhook".into(),
                events: EventFilter::parse("user.*").unwrap(),
                filter_var: "WEBHOOK_EVENTS",
            },
            Route {
                sink: "telegram".into(),
                events: EventFilter::all(),
                filter_var: "TELEGRAM_EVENTS",
            },
        ]);
        let r = routes.route("test");
        assert_eq!(r.to, ["telegram"]);
        assert_eq!(
            r.describe(),
            "→ telegram; left out by webhook (WEBHOOK_EVENTS=user.* does not include it)"
        );
        assert_eq!(routes.sinks_for("user.created"), ["webhook", "telegram"]);
        assert_eq!(Routes::default().route("x").describe(), "→ no sink");
    }
}
