//! What each adapter does with each request parameter: sends it as the provider has it,
//! translates it into the provider's form, emulates it in the gateway, or refuses the request
//! with a 400 naming the parameter and the target. Nothing is dropped silently: the few
//! parameters that cannot change an answer (`user`, `metadata`, ...) are listed as `dropped`.
//!
//! Each adapter declares one [`Capabilities`] table. The worker checks every chat request
//! against its target's table before the call ([`admit`]), and the capability matrix in
//! `docs/CAPABILITIES.md` is generated from the same tables ([`markdown`]), so the two cannot
//! drift.

mod admit;
mod emulate;
mod matrix;

pub use admit::{admit, used, Plan};
pub use emulate::{chat, chat_stream};
pub use matrix::{document, markdown, tables};

/// How an adapter handles a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// The provider has it: sent as is.
    Native,
    /// Sent in the provider's own form.
    Translated,
    /// Done by the gateway (`n` as several calls, ...).
    Emulated,
    /// Not sent: it cannot change the answer (an end-user id, client metadata).
    Dropped,
    /// Sent as is to an OpenAI-compatible API, which accepts or refuses it.
    PassedThrough,
    /// The request is refused with a 400 naming the parameter and the target.
    Refused,
}

impl Support {
    /// The word in the matrix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Translated => "translated",
            Self::Emulated => "emulated",
            Self::Dropped => "dropped",
            Self::PassedThrough => "passed through",
            Self::Refused => "refused",
        }
    }
}

/// A request parameter (or a form of one) the matrix speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `tools` (function tools).
    Tools,
    /// `tool_choice: "none"`.
    ToolChoiceNone,
    /// `tool_choice: "required"`.
    ToolChoiceRequired,
    /// `tool_choice` naming a function.
    ToolChoiceNamed,
    /// `parallel_tool_calls: false`.
    NoParallelToolCalls,
    /// `response_format: {"type": "json_object"}`.
    JsonObject,
    /// `response_format: {"type": "json_schema", ...}`.
    JsonSchema,
    /// `n` over 1, not streamed.
    N,
    /// `n` over 1, streamed.
    NStream,
    /// `stop`.
    Stop,
    /// `seed`.
    Seed,
    /// `presence_penalty`, `frequency_penalty`.
    Penalties,
    /// `logit_bias`.
    LogitBias,
    /// `logprobs`, `top_logprobs`.
    Logprobs,
    /// `top_k`.
    TopK,
    /// `reasoning_effort`.
    ReasoningEffort,
    /// `thinking` (Anthropic's form, accepted by every adapter that can think).
    Thinking,
    /// `image_url` parts with a `data:` URL.
    ImageData,
    /// `image_url` parts with an `https:` URL.
    ImageUrl,
    /// `input_audio` and `file` parts.
    AudioOrFile,
    /// `user`, `metadata`, `store`, `service_tier`, `prompt_cache_key`, `safety_identifier`.
    ClientMetadata,
    /// Any other field of the request.
    Unknown,
}

impl Param {
    /// Every parameter, in the matrix's order.
    pub const ALL: &'static [Param] = &[
        Param::Tools,
        Param::ToolChoiceNone,
        Param::ToolChoiceRequired,
        Param::ToolChoiceNamed,
        Param::NoParallelToolCalls,
        Param::JsonObject,
        Param::JsonSchema,
        Param::N,
        Param::NStream,
        Param::Stop,
        Param::Seed,
        Param::Penalties,
        Param::LogitBias,
        Param::Logprobs,
        Param::TopK,
        Param::ReasoningEffort,
        Param::Thinking,
        Param::ImageData,
        Param::ImageUrl,
        Param::AudioOrFile,
        Param::ClientMetadata,
        Param::Unknown,
    ];

    /// How the parameter reads in the matrix and in errors.
    pub fn label(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::ToolChoiceNone => "tool_choice: none",
            Self::ToolChoiceRequired => "tool_choice: required",
            Self::ToolChoiceNamed => "tool_choice: a named function",
            Self::NoParallelToolCalls => "parallel_tool_calls: false",
            Self::JsonObject => "response_format: json_object",
            Self::JsonSchema => "response_format: json_schema",
            Self::N => "n > 1",
            Self::NStream => "n > 1 with stream",
            Self::Stop => "stop",
            Self::Seed => "seed",
            Self::Penalties => "presence_penalty, frequency_penalty",
            Self::LogitBias => "logit_bias",
            Self::Logprobs => "logprobs, top_logprobs",
            Self::TopK => "top_k",
            Self::ReasoningEffort => "reasoning_effort",
            Self::Thinking => "thinking",
            Self::ImageData => "image_url (data: URL)",
            Self::ImageUrl => "image_url (https: URL)",
            Self::AudioOrFile => "input_audio, file parts",
            Self::ClientMetadata => "user, metadata, store, service_tier",
            Self::Unknown => "other fields",
        }
    }
}

/// One line of a table: a parameter, what the adapter does, and a note.
#[derive(Debug, Clone, Copy)]
pub struct Capability {
    /// The parameter.
    pub param: Param,
    /// What the adapter does with it.
    pub support: Support,
    /// How, in a few words (the provider's field, the limit).
    pub note: &'static str,
}

/// Shorthand for a table line.
pub const fn cap(param: Param, support: Support, note: &'static str) -> Capability {
    Capability {
        param,
        support,
        note,
    }
}

/// An adapter's table. Parameters it does not list are refused.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// The adapter kind (`openai`, `anthropic`, ...).
    pub kind: &'static str,
    /// The lines.
    pub lines: &'static [Capability],
    /// The extra fields the adapter reads by name (`top_k`, `safety_settings`, ...); any
    /// other extra field falls under [`Param::Unknown`].
    pub reads: &'static [&'static str],
}

impl Capabilities {
    /// What the adapter does with `p` (refused when it does not say).
    pub fn support(&self, p: Param) -> Support {
        self.line(p).map(|c| c.support).unwrap_or(Support::Refused)
    }

    fn line(&self, p: Param) -> Option<&Capability> {
        self.lines.iter().find(|c| c.param == p)
    }
}
