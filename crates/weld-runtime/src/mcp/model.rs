//! What an MCP-world component offers and answers, in weld's own terms:
//! the same for every world weld hosts, so nothing above the runtime knows
//! which world a component was built for.
//!
//! JSON that a component hands over as text (schemas, arguments,
//! structured content, `_meta`) stays text here; the layers above parse
//! it once, where they need it (schemas at load, results per call).
//! Binary content is bytes; encoding it (base64) is the wire's business.

/// A tool as the component names and describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    /// The component's own name for it.
    pub name: String,
    /// A human-readable title.
    pub title: Option<String>,
    /// What it does, for the model.
    pub description: Option<String>,
    /// JSON Schema of its arguments, as JSON text.
    pub input_schema: String,
    /// JSON Schema of its structured result, as JSON text.
    pub output_schema: Option<String>,
    /// Hints about its behaviour.
    pub annotations: Option<ToolAnnotations>,
    /// Icons for a user interface.
    pub icons: Vec<Icon>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// Hints about a tool's behaviour (MCP's `ToolAnnotations`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolAnnotations {
    /// A human-readable title.
    pub title: Option<String>,
    /// It changes nothing.
    pub read_only: Option<bool>,
    /// It may destroy or overwrite data.
    pub destructive: Option<bool>,
    /// Calling it twice with the same arguments does no more than once.
    pub idempotent: Option<bool>,
    /// It reaches outside a closed world.
    pub open_world: Option<bool>,
}

/// An icon for a user interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icon {
    /// Where it is (an HTTPS or `data:` URI).
    pub src: String,
    /// Its media type.
    pub mime_type: Option<String>,
    /// Its sizes (`48x48`, `any`).
    pub sizes: Vec<String>,
    /// `light` or `dark`: the background it was drawn for.
    pub theme: Option<&'static str>,
}

/// Who a piece of content is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// How a client may use or show an object (MCP's `Annotations`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// Who it is for.
    pub audience: Option<Vec<Role>>,
    /// When it last changed (ISO 8601).
    pub last_modified: Option<String>,
    /// How important it is, 0 to 1.
    pub priority: Option<f64>,
}

/// A resource a component lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    /// Its URI: the name clients read it by.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// A human-readable title.
    pub title: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// Its media type.
    pub mime_type: Option<String>,
    /// Its size in bytes, when known.
    pub size: Option<u64>,
    /// How a client may use it.
    pub annotations: Option<Annotations>,
    /// Icons for a user interface.
    pub icons: Vec<Icon>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// A family of resources, named by an RFC 6570 URI template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDef {
    /// The URI template.
    pub uri_template: String,
    /// Its name.
    pub name: String,
    /// A human-readable title.
    pub title: Option<String>,
    /// What its resources are.
    pub description: Option<String>,
    /// Their media type, when they share one.
    pub mime_type: Option<String>,
    /// How a client may use them.
    pub annotations: Option<Annotations>,
    /// Icons for a user interface.
    pub icons: Vec<Icon>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// A prompt a component offers.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptDef {
    /// The component's own name for it.
    pub name: String,
    /// A human-readable title.
    pub title: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The arguments it takes.
    pub arguments: Vec<PromptArgument>,
    /// Icons for a user interface.
    pub icons: Vec<Icon>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// One argument of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptArgument {
    /// Its name.
    pub name: String,
    /// A human-readable title.
    pub title: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// Whether it must be given.
    pub required: Option<bool>,
}

/// Everything a component lists, read once per load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// Its tools.
    pub tools: Vec<ToolDef>,
    /// Its resources.
    pub resources: Vec<ResourceDef>,
    /// Its resource templates.
    pub templates: Vec<TemplateDef>,
    /// Its prompts.
    pub prompts: Vec<PromptDef>,
}

/// One block of a tool result or a prompt message.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// How a client may use it.
        annotations: Option<Annotations>,
        /// Its `_meta`, as JSON text.
        meta: Option<String>,
    },
    /// An image.
    Image(Media),
    /// A sound.
    Audio(Media),
    /// A link to a resource the client may read.
    ResourceLink(Box<ResourceDef>),
    /// A resource's contents, inline.
    Resource {
        /// The contents.
        contents: ResourceContents,
        /// How a client may use it.
        annotations: Option<Annotations>,
        /// Its `_meta`, as JSON text.
        meta: Option<String>,
    },
}

/// Binary content: an image or a sound.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// The bytes.
    pub data: Vec<u8>,
    /// Their media type.
    pub mime_type: String,
    /// How a client may use it.
    pub annotations: Option<Annotations>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// What a resource holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its media type.
    pub mime_type: Option<String>,
    /// Text or bytes.
    pub body: Body,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// A resource's contents: text or bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// What a tool call returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolResult {
    /// Its content blocks.
    pub content: Vec<Content>,
    /// The tool reports a failure of its own.
    pub is_error: bool,
    /// Its structured result, as JSON text.
    pub structured: Option<String>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// What reading a resource returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadResult {
    /// The contents (a resource may be several).
    pub contents: Vec<ResourceContents>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// One message of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

/// What getting a prompt returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptResult {
    /// What the prompt is for.
    pub description: Option<String>,
    /// Its messages.
    pub messages: Vec<PromptMessage>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// What completion offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// The suggested values.
    pub values: Vec<String>,
    /// How many there are in all.
    pub total: Option<u64>,
    /// Whether there are more than `values`.
    pub has_more: Option<bool>,
    /// Its `_meta`, as JSON text.
    pub meta: Option<String>,
}

/// What a completion is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An argument of this prompt (the component's own name for it).
    Prompt(String),
    /// A variable of this URI template.
    Template(String),
}

/// A request to an MCP-world component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpRequest {
    /// List everything it offers (at load).
    List,
    /// Call a tool, by the component's own name for it.
    CallTool {
        /// The tool.
        name: String,
        /// The arguments, as JSON text.
        arguments: Option<String>,
    },
    /// Read a resource.
    ReadResource {
        /// Its URI.
        uri: String,
    },
    /// Get a prompt, by the component's own name for it.
    GetPrompt {
        /// The prompt.
        name: String,
        /// Its arguments, as a JSON object of strings.
        arguments: Option<String>,
    },
    /// Complete an argument.
    Complete {
        /// What the argument belongs to.
        reference: Reference,
        /// The argument's name.
        argument: String,
        /// What has been typed so far.
        value: String,
        /// Arguments already given, as a JSON object of strings.
        context: Option<String>,
    },
}

/// How an MCP-world component answered.
#[derive(Debug, Clone, PartialEq)]
pub enum McpReply {
    /// Its listing ([`McpRequest::List`]).
    Listing(Listing),
    /// A tool's result.
    Tool(ToolResult),
    /// A resource's contents.
    Resource(ReadResult),
    /// A prompt.
    Prompt(PromptResult),
    /// Completion values.
    Completion(Completion),
    /// The name, URI or reference is not one it serves (its `none`).
    NotMine,
    /// It answered with a protocol error.
    Error(McpError),
    /// Its answer, with any streamed content, is larger than `cap` bytes.
    TooLarge {
        /// The cap.
        cap: u64,
    },
    /// Its answer cannot be passed on: text that is not UTF-8, a stream
    /// that failed, a listing that never ends.
    Invalid(String),
}

/// A JSON-RPC error a component answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpError {
    /// The JSON-RPC code.
    pub code: i64,
    /// Its message.
    pub message: String,
    /// Its data, as JSON text.
    pub data: Option<String>,
}

/// The severity of a log message (RFC 5424's, as MCP uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Debugging detail.
    Debug,
    /// Information.
    Info,
    /// Normal but significant.
    Notice,
    /// A warning.
    Warning,
    /// An error.
    Error,
    /// A critical condition.
    Critical,
    /// Action must be taken at once.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    /// Every level, least severe first.
    pub const ALL: [LogLevel; 8] = [
        Self::Debug,
        Self::Info,
        Self::Notice,
        Self::Warning,
        Self::Error,
        Self::Critical,
        Self::Alert,
        Self::Emergency,
    ];

    /// MCP's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }

    /// The level MCP names `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// A message a component sends its client while it handles a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// A log message (`notifications/message`).
    Log {
        /// Its severity.
        level: LogLevel,
        /// Who logged it.
        logger: Option<String>,
        /// What was logged.
        data: serde_json::Value,
    },
    /// Progress of the request (`notifications/progress`). The token the
    /// component gave is not kept: it cannot know the request's (see
    /// `docs/mcp-components.md`), so the front end puts that in.
    Progress {
        /// Progress so far.
        progress: f64,
        /// The total, when known.
        total: Option<f64>,
        /// What is happening.
        message: Option<String>,
    },
}
