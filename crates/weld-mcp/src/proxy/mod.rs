//! MCP server components, proxied: weld is the MCP client of each (rmcp's
//! client over the instance's stdin and stdout) and serves the tools it
//! lists, named as it names them, to weld's own clients.
//!
//! weld-host recognises such components and starts their instances under
//! their policies (`weld_host::proxied`); this module speaks the protocol:
//! a [`Proxies`] registry follows the catalog, a `supervisor` runs each
//! component's one instance (start, restart, idle stop, back-off), a
//! `session` is the MCP session with it (notifications routed to the call
//! that caused them), and `call` forwards one `tools/call`.
//!
//! **Listed at load.** The first `tools/list` (or call) after a catalog is
//! loaded starts every MCP server component in it, all at once, each within
//! its time limit, and waits for their lists: a component's tools are the
//! ones it listed then, until the next reload. One that cannot be started,
//! does not complete `initialize`, or lists a tool whose name is taken is
//! not served, with the reason in the log (a reason that is not about a
//! clash is tried again, within the restart back-off, at the next listing).
//!
//! **Names are the server's own**, unique across everything weld serves:
//! a tool of a plain or MCP-world component, or of an MCP server component
//! listed earlier (in load order), keeps its name, and the later component
//! is not served whole. Names starting with `weld_` are the built-in
//! tools'.

// Log messages are deprecated by SEP-2577 (2026-07-28), but they are what
// existing servers send, and clients of earlier eras still hear them.
#![allow(
    deprecated,
    reason = "log messages of proxied servers are passed on (SEP-2577)"
)]

mod call;
mod session;
mod supervisor;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResponse, Tool};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use weld_host::Catalog;
use weld_host::audit::Audit;
use weld_host::catalog::{MAX_DESCRIPTION_BYTES, MAX_LISTING_BYTES, MAX_TOOL_NAME};

use supervisor::Supervisor;

/// The instances an HTTP session has of its own: one per MCP server
/// component it calls, started by its first call, so that what a server
/// keeps in memory is never shared with another session — for the first
/// [`supervisor::MAX_SESSION_INSTANCES`] sessions of a component; later
/// sessions share the component's instance. Dropped with the
/// session (rmcp drops a session's handler when the session closes or
/// expires), which stops them once their calls end. Clients without a
/// session (stdio's one client, 2026-07-28 clients over HTTP) share each
/// component's listing instance.
#[derive(Default)]
pub struct SessionInstances {
    /// By component name: the shared supervisor it was made for (replaced
    /// when a reload replaces that one), and the session's own.
    by_component: Mutex<HashMap<String, OwnSupervisor>>,
}

/// The shared supervisor a session's own was made for, and the session's.
type OwnSupervisor = (Weak<Supervisor>, Arc<Supervisor>);

impl SessionInstances {
    /// The session's own supervisor of `shared`'s component.
    fn own(&self, shared: &Arc<Supervisor>) -> Arc<Supervisor> {
        let mut map = self
            .by_component
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let name = &shared.component.name;
        if let Some((parent, own)) = map.get(name)
            && parent.upgrade().is_some_and(|p| Arc::ptr_eq(&p, shared))
        {
            return Arc::clone(own);
        }
        // Beyond the bound the session shares the component's instance,
        // and keeps sharing it: a session's calls never move between two.
        let own = shared.for_session().unwrap_or_else(|| Arc::clone(shared));
        map.insert(name.clone(), (Arc::downgrade(shared), Arc::clone(&own)));
        own
    }
}

/// How long an MCP server component may be idle before it is stopped,
/// unless the operator says otherwise (`--mcp-server-idle-timeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The MCP server components being served: one [`Supervisor`] each, and
/// the tools they listed. Cheap to clone (the HTTP transport clones the
/// server per request): clones share everything.
#[derive(Clone)]
pub struct Proxies {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Duration,
    /// One listing at a time; requests that find one running wait for it.
    syncing: tokio::sync::Mutex<()>,
    current: Mutex<Arc<Served>>,
}

/// What is served, as of one catalog.
#[derive(Default)]
struct Served {
    /// The catalog this was built for.
    catalog: Weak<Catalog>,
    supervisors: Vec<Arc<Supervisor>>,
    /// Each component's listing, by name: its tools, or why it is not
    /// served.
    listings: HashMap<String, Result<Vec<Tool>, String>>,
    tools: HashMap<String, (Arc<Supervisor>, Tool)>,
    /// In name order.
    listed: Vec<Tool>,
}

impl Proxies {
    /// Nothing served yet; components stopped after `idle` without a
    /// request.
    pub fn new(idle: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                idle,
                syncing: tokio::sync::Mutex::new(()),
                current: Mutex::new(Arc::default()),
            }),
        }
    }

    fn current(&self) -> Arc<Served> {
        Arc::clone(
            &self
                .inner
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The proxied tools, in name order, as of `catalog` (listing its MCP
    /// server components first if it is new).
    pub async fn tools(&self, catalog: &Arc<Catalog>) -> Vec<Tool> {
        self.sync(catalog).await.listed.clone()
    }

    /// The proxied tool named `name`, as last listed (no listing starts).
    pub fn tool(&self, name: &str) -> Option<Tool> {
        self.current().tools.get(name).map(|(_, tool)| tool.clone())
    }

    /// Calls the proxied tool `request` names, if there is one as of
    /// `catalog`, for the client of `context` (audited as `client`, hearing
    /// log messages from `floor` up); `None` when no MCP server component
    /// serves that name.
    /// A call from an HTTP session (`own` is its [`SessionInstances`]) goes
    /// to the session's own instance of the component.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call's context, passed through"
    )]
    pub async fn call(
        &self,
        catalog: &Arc<Catalog>,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        audit: &Audit,
        client: Option<String>,
        floor: crate::served::LogFloor,
        own: Option<&SessionInstances>,
    ) -> Option<Result<CallToolResponse, McpError>> {
        let served = self.sync(catalog).await;
        let (shared, _) = served.tools.get(request.name.as_ref())?;
        let supervisor = match own {
            Some(own) => own.own(shared),
            None => Arc::clone(shared),
        };
        drop(served);
        let caller = call::Caller {
            context,
            audit,
            client,
            floor,
        };
        Some(call::call(supervisor, request, caller).await)
    }

    /// Starts (in the background) the MCP server components of `catalog`,
    /// so that they are listed before the first client asks.
    pub fn prepare(&self, catalog: Arc<Catalog>) {
        if catalog.proxied().is_empty() {
            return;
        }
        let proxies = self.clone();
        tokio::spawn(async move {
            proxies.sync(&catalog).await;
        });
    }

    /// What is served as of `catalog`: the same as before if it was built
    /// for it and every component has listed; else the components are
    /// matched with the catalog's and those without a listing are listed.
    async fn sync(&self, catalog: &Arc<Catalog>) -> Arc<Served> {
        let current = self.current();
        if current.is_for(catalog) && current.settled() {
            return current;
        }
        let _one = self.inner.syncing.lock().await;
        let current = self.current();
        if current.is_for(catalog) && current.settled() {
            return current;
        }
        let supervisors = self.follow(&current, catalog);
        let mut listings = current.listings.clone();
        listings.retain(|name, listing| {
            listing.is_ok() && supervisors.iter().any(|s| &s.component.name == name)
        });
        let missing = supervisors
            .iter()
            .filter(|s| !listings.contains_key(&s.component.name));
        let listed = futures::future::join_all(missing.map(|s| async move {
            let listing = s.session().await.map(|session| session.tools.clone());
            (s.component.name.clone(), listing.map_err(|(_, why)| why))
        }))
        .await;
        listings.extend(listed);
        let served = Arc::new(Served::merge(catalog, supervisors, listings));
        *self
            .inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(&served);
        served
    }

    /// The supervisors for `catalog`'s components: the current one of a
    /// component that is unchanged (same code, limits and sandbox), a new
    /// one for every other (the old one, dropped, stops its instance once
    /// its calls in flight end).
    fn follow(&self, current: &Served, catalog: &Catalog) -> Vec<Arc<Supervisor>> {
        catalog
            .proxied()
            .iter()
            .map(|component| {
                current
                    .supervisors
                    .iter()
                    .find(|s| s.component.name == component.name && s.component.same_as(component))
                    .cloned()
                    .unwrap_or_else(|| Supervisor::new(Arc::clone(component), self.inner.idle))
            })
            .collect()
    }
}

impl Served {
    fn is_for(&self, catalog: &Arc<Catalog>) -> bool {
        self.catalog
            .upgrade()
            .is_some_and(|c| Arc::ptr_eq(&c, catalog))
    }

    /// Whether every component has listed its tools (a failed listing is
    /// tried again at the next sync).
    fn settled(&self) -> bool {
        self.supervisors.iter().all(|s| {
            matches!(self.listings.get(&s.component.name), Some(Ok(_)))
                || self.clashed(&s.component.name)
        })
    }

    fn clashed(&self, name: &str) -> bool {
        matches!(self.listings.get(name), Some(Err(why)) if why.starts_with(CLASH))
    }

    /// The tools served: each component's, in load order, unless one of
    /// them cannot be served (see the module docs).
    fn merge(
        catalog: &Arc<Catalog>,
        supervisors: Vec<Arc<Supervisor>>,
        mut listings: HashMap<String, Result<Vec<Tool>, String>>,
    ) -> Self {
        let mut tools = HashMap::new();
        let mut listing_bytes = 0u64;
        for supervisor in &supervisors {
            let component = &supervisor.component;
            let Some(Ok(listed)) = listings.get(&component.name) else {
                component.set_served(None);
                if let Some(Err(why)) = listings.get(&component.name) {
                    tracing::error!(
                        component = %component.name,
                        reason = %why,
                        "MCP server component not served"
                    );
                }
                continue;
            };
            let taken = |name: &str| {
                catalog.tool(name).is_some()
                    || name.starts_with("weld_")
                    || tools.contains_key(name)
            };
            let checked = check(listed, taken, listing_bytes);
            match checked {
                Ok(bytes) => {
                    component.set_served(Some(listed.len()));
                    listing_bytes += bytes;
                    for tool in listed {
                        tools.insert(
                            tool.name.to_string(),
                            (Arc::clone(supervisor), tool.clone()),
                        );
                    }
                }
                Err(why) => {
                    component.set_served(None);
                    tracing::error!(
                        component = %component.name,
                        reason = %why,
                        "MCP server component not served"
                    );
                    listings.insert(component.name.clone(), Err(why));
                }
            }
        }
        let mut listed: Vec<Tool> = tools.values().map(|(_, tool)| tool.clone()).collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            catalog: Arc::downgrade(catalog),
            supervisors,
            listings,
            tools,
            listed,
        }
    }
}

/// How a clash starts its reason (a clash is not tried again until the
/// catalog changes).
const CLASH: &str = "its tool `";

/// Checks what a component listed against the caps and the names already
/// `taken`, with `listing_bytes` of the proxied tools' listing already
/// used (a cap of its own, as large as the plain tools'); returns the bytes
/// its tools take.
fn check(listed: &[Tool], taken: impl Fn(&str) -> bool, listing_bytes: u64) -> Result<u64, String> {
    let mut own = HashSet::new();
    let mut bytes = 0u64;
    for tool in listed {
        let name = tool.name.as_ref();
        if taken(name) || !own.insert(name) {
            return Err(format!(
                "{CLASH}{name}` has the name of a tool weld already serves (names are unique \
                 across components; tools of plain components and of MCP server components \
                 loaded earlier keep theirs, and `weld_` is the built-in tools'); the \
                 component is not served"
            ));
        }
        if name.is_empty() || name.len() > MAX_TOOL_NAME {
            return Err(format!(
                "it lists a tool whose name is empty or longer than MCP's {MAX_TOOL_NAME} \
                 characters; the component is not served"
            ));
        }
        let description = tool.description.as_deref().map_or(0, str::len);
        if description > MAX_DESCRIPTION_BYTES {
            return Err(format!(
                "its tool `{name}` has a description of {description} bytes (the cap is \
                 {MAX_DESCRIPTION_BYTES}); the component is not served"
            ));
        }
        bytes += serde_json::to_vec(tool).map_or(u64::MAX, |json| json.len() as u64);
    }
    if listing_bytes.saturating_add(bytes) > MAX_LISTING_BYTES {
        return Err(format!(
            "its tools would take {bytes} bytes of the tool listing, over the cap of \
             {MAX_LISTING_BYTES} bytes for all proxied MCP servers' tools together; the \
             component is not served",
        ));
    }
    Ok(bytes)
}
