//! Message templates: one file per kind × locale × channel, rendered with minijinja.
//!
//! The shipped templates are embedded in the binary (`messages/templates`, see `build.rs`); a
//! directory named in config (`[notifications.templates] dir`) holds a shop's own, laid out
//! the same way, and a file there replaces the shipped one of the same name:
//!
//! ```text
//! layout.email.html          the HTML e-mail around every body (lang, dir, the shop's name)
//! <locale>/<kind>.email.txt  blocks `subject` and `body`: the subject and the text part
//! <locale>/<kind>.email.html block `body` (extends layout.email.html): the HTML part
//! <locale>/<kind>.sms.txt    the SMS text
//! <locale>/<kind>.whatsapp.txt  blocks `template` (the approved template's name) and
//!                            `params` (its body parameters, one per line)
//! ```
//!
//! **Only `.html` files are HTML-escaped**, the rest are plain text. **Every template is
//! checked before the service starts** ([`Templates::load`]): it must parse, use no variable
//! its kind does not have, and render against the kind's sample with every value present; a
//! failure names the file and line. A locale without a file falls back to `en`
//! ([`Rendered::fell_back`], counted by the notifier).

use crate::context::{self, Kind};
use crate::locale::Locale;
use crate::sample;
use minijinja::{Environment, UndefinedBehavior};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The channels that speak to people through templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The files one kind × locale has for this channel.
    fn files(self) -> &'static [&'static str] {
        match self {
            Channel::Email => &["email.txt", "email.html"],
            Channel::Sms => &["sms.txt"],
            Channel::Whatsapp => &["whatsapp.txt"],
        }
    }
}

/// A message ready for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub locale: Locale,
    /// The locale asked for had no template: this is `en`'s.
    pub fell_back: bool,
    /// E-mail: the subject; WhatsApp: the template's name.
    pub subject: Option<String>,
    /// E-mail: the text part; SMS: the text; WhatsApp: the parameters, one per line.
    pub text: String,
    /// E-mail: the HTML part.
    pub html: Option<String>,
}

/// A template that cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

/// Every template, loaded and checked.
pub struct Templates {
    env: Environment<'static>,
    /// Names of the templates there are (embedded and the shop's).
    names: BTreeSet<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("templates", &self.names.len())
            .finish()
    }
}

impl Templates {
    /// The shipped templates, then the shop's from `dir` over them; every one checked.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        let mut embedded = Environment::new();
        minijinja_embed::load_templates!(&mut embedded);
        for (name, template) in embedded.templates() {
            sources.insert(name.to_string(), template.source().to_string());
        }
        if let Some(dir) = dir {
            read_dir(dir, dir, &mut sources)?;
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        // A tag on a line of its own leaves no blank line behind.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, source) in &sources {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| error(name, &e))?;
        }
        let templates = Templates {
            names: sources.keys().cloned().collect(),
            env,
        };
        templates.check(&sources)?;
        Ok(templates)
    }

    /// Renders `kind` for `locale` on `channel` with `vars` (from [`context`]).
    pub fn render(
        &self,
        kind: Kind,
        locale: Locale,
        channel: Channel,
        vars: &serde_json::Value,
    ) -> Result<Rendered, TemplateError> {
        let (locale, fell_back) = if self.has(kind, locale, channel) {
            (locale, false)
        } else {
            (Locale::En, true)
        };
        let name = |file: &str| format!("{}/{}.{file}", locale.tag(), kind.name());
        let vars = minijinja::Value::from_serialize(vars);
        match channel {
            Channel::Email => {
                let [subject, body] =
                    self.blocks(&name("email.txt"), ["subject", "body"], &vars)?;
                Ok(Rendered {
                    locale,
                    fell_back,
                    subject: Some(one_line(&subject)),
                    text: body.trim().to_string() + "\n",
                    html: Some(self.whole(&name("email.html"), &vars)?),
                })
            }
            Channel::Sms => Ok(Rendered {
                locale,
                fell_back,
                subject: None,
                text: self.whole(&name("sms.txt"), &vars)?.trim().to_string(),
                html: None,
            }),
            Channel::Whatsapp => {
                let [template, params] =
                    self.blocks(&name("whatsapp.txt"), ["template", "params"], &vars)?;
                Ok(Rendered {
                    locale,
                    fell_back,
                    subject: Some(one_line(&template)),
                    text: params
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    html: None,
                })
            }
        }
    }

    /// Whether `locale` has its own files for `kind` on `channel`.
    pub fn has(&self, kind: Kind, locale: Locale, channel: Channel) -> bool {
        channel.files().iter().all(|f| {
            self.names
                .contains(&format!("{}/{}.{f}", locale.tag(), kind.name()))
        })
    }

    fn whole(&self, name: &str, vars: &minijinja::Value) -> Result<String, TemplateError> {
        let t = self.env.get_template(name).map_err(|e| error(name, &e))?;
        t.render(vars).map_err(|e| error(name, &e))
    }

    /// The named blocks of one template, rendered in one evaluation.
    fn blocks<const N: usize>(
        &self,
        name: &str,
        blocks: [&str; N],
        vars: &minijinja::Value,
    ) -> Result<[String; N], TemplateError> {
        let t = self.env.get_template(name).map_err(|e| error(name, &e))?;
        let mut captured = t.render_captured(vars).map_err(|e| error(name, &e))?;
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        for (slot, block) in out.iter_mut().zip(blocks) {
            *slot = captured
                .with_state_mut(|state| state.render_block(block))
                .map_err(|e| error(name, &e))?;
        }
        Ok(out)
    }

    /// The start-up check: names, variables, a sample render of every kind × locale × channel
    /// there are files for, and `en` complete.
    fn check(&self, sources: &BTreeMap<String, String>) -> Result<(), TemplateError> {
        for (name, source) in sources {
            let Some(kind) = kind_of(name)? else {
                continue;
            };
            let allowed: BTreeSet<&str> = context::variables(kind).into_iter().collect();
            let t = self.env.get_template(name).map_err(|e| error(name, &e))?;
            for var in t.undeclared_variables(false) {
                if !allowed.contains(var.as_str()) {
                    return Err(TemplateError {
                        file: name.clone(),
                        line: line_of(source, &var),
                        reason: format!(
                            "uses '{var}', which {} messages do not have (they have: {})",
                            kind.name(),
                            allowed.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
        }
        for kind in Kind::all() {
            for channel in Channel::ALL {
                if !self.has(kind, Locale::En, channel) {
                    return Err(TemplateError {
                        file: format!("en/{}.{}", kind.name(), channel.files()[0]),
                        line: None,
                        reason: "missing: every kind needs its English templates (the fallback)"
                            .to_string(),
                    });
                }
                for locale in Locale::ALL {
                    if self.has(kind, locale, channel) {
                        let vars = sample::vars(kind, locale);
                        self.render(kind, locale, channel, &vars)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The kind a template file is for; `None` for a file of no kind (the layout).
fn kind_of(name: &str) -> Result<Option<Kind>, TemplateError> {
    let bad = |reason: String| TemplateError {
        file: name.to_string(),
        line: None,
        reason,
    };
    if !name.contains('/') {
        return if name == "layout.email.html" {
            Ok(None)
        } else {
            Err(bad("unknown template: files sit in a locale's directory (en/, ro/, tr/, ar/), or are layout.email.html".to_string()))
        };
    }
    let (locale, file) = name.split_once('/').unwrap_or_default();
    if Locale::parse(locale).is_none() {
        return Err(bad(format!(
            "unknown locale '{locale}' (there are: en, ro, tr, ar)"
        )));
    }
    let (kind, rest) = file.split_once('.').unwrap_or((file, ""));
    let kind = Kind::parse(kind).ok_or_else(|| {
        bad(format!(
            "unknown kind '{kind}' (there are: {})",
            Kind::all()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if !Channel::ALL.iter().any(|c| c.files().contains(&rest)) {
        return Err(bad(format!(
            "unknown file '{rest}' (there are: email.txt, email.html, sms.txt, whatsapp.txt)"
        )));
    }
    Ok(Some(kind))
}

/// The shop's templates under `root`, by their names relative to it.
fn read_dir(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, String>,
) -> Result<(), TemplateError> {
    let io = |path: &Path, e: std::io::Error| TemplateError {
        file: path.display().to_string(),
        line: None,
        reason: e.to_string(),
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.is_dir() {
            read_dir(root, &path, out)?;
            continue;
        }
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if name.starts_with('.') || name.contains("/.") {
            continue;
        }
        let source = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        out.insert(name, source);
    }
    Ok(())
}

fn error(name: &str, e: &minijinja::Error) -> TemplateError {
    let mut reason = e.kind().to_string();
    if let Some(detail) = e.detail() {
        reason.push_str(": ");
        reason.push_str(detail);
    }
    TemplateError {
        file: e.name().unwrap_or(name).to_string(),
        line: e.line(),
        reason,
    }
}

/// The first line that names `var`.
fn line_of(source: &str, var: &str) -> Option<usize> {
    source
        .lines()
        .position(|l| {
            l.match_indices(var).any(|(i, _)| {
                let before = l[..i].chars().next_back();
                let after = l[i + var.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .map(|i| i + 1)
}

/// A subject or a template name: one line, trimmed (no header injection through a value).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
