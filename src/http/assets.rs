//! The web client, compiled into the binary.
//!
//! `include_bytes!` embeds the page and its assets at build time, so answering `GET /` or
//! `GET /static/app.js` (and each module it imports) reads nothing from disk: a request path is
//! only ever compared with the names below, and there is no file system path to traverse.
//! Each carries its entity tag, a hash of its bytes the compiler computes (`etag.rs`), so a
//! browser that has the file already gets a `304 Not Modified` instead of the bytes again.

use crate::http::etag::{self, ETag};

/// One embedded file.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    /// The file name under `/static/` (or `index.html` for the page).
    pub name: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
    /// The hash of `body`, its strong validator.
    pub etag: ETag,
}

impl Asset {
    /// The file `name`, served as `content_type`, with these bytes and their tag.
    const fn new(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
        Asset { name, content_type, body, etag: etag::of(body) }
    }
}

/// The chat page, served at `/`.
pub const INDEX: Asset = Asset::new(
    "index.html",
    "text/html; charset=utf-8",
    include_bytes!("../../web/templates/index.html"),
);

/// Looks up a file served under `/static/`.
pub fn static_file(name: &str) -> Option<&'static Asset> {
    STATIC.iter().find(|asset| asset.name == name)
}

/// The page's JavaScript: native ES modules, one idea each, that `app.js` imports by name
/// (`import … from './socket.js'`), so each is its own file under `/static/`.
macro_rules! module {
    ($name:literal) => {
        Asset::new(
            $name,
            "text/javascript; charset=utf-8",
            include_bytes!(concat!("../../web/static/", $name)),
        )
    };
}

const STATIC: [Asset; 38] = [
    module!("app.js"),
    module!("actions.js"),
    module!("address.js"),
    module!("alerts.js"),
    module!("banned.js"),
    module!("bans.js"),
    module!("changes.js"),
    module!("composer.js"),
    module!("dms.js"),
    module!("dom.js"),
    module!("edit.js"),
    module!("events.js"),
    module!("format.js"),
    module!("frames.js"),
    module!("history.js"),
    module!("message-parts.js"),
    module!("messages.js"),
    module!("moderation.js"),
    module!("names.js"),
    module!("operator-menu.js"),
    module!("reactions.js"),
    module!("reply.js"),
    module!("requests.js"),
    module!("rooms.js"),
    module!("sidebar.js"),
    module!("socket.js"),
    module!("state.js"),
    module!("status.js"),
    module!("storage.js"),
    module!("subscribe.js"),
    module!("typing.js"),
    module!("unread.js"),
    module!("users.js"),
    module!("view.js"),
    module!("wire.js"),
    module!("wire-draw.js"),
    Asset::new(
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/static/style.css"),
    ),
    Asset::new("favicon.svg", "image/svg+xml", include_bytes!("../../web/static/favicon.svg")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_names_are_served() {
        assert!(static_file("app.js").is_some());
        for name in ["../Cargo.toml", "", "app.js/", "APP.JS", "%2e%2e/src/main.rs"] {
            assert!(static_file(name).is_none(), "{name}");
        }
    }

    /// A module the list forgets would be a 404 and a page that never starts.
    #[test]
    fn every_module_of_the_page_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/static");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".js") {
                let asset = static_file(&name).unwrap_or_else(|| panic!("{name} is not served"));
                assert_eq!(asset.content_type, "text/javascript; charset=utf-8", "{name}");
            }
        }
    }
}
