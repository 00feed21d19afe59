//! Embeds the shipped message templates (`templates/`) in the binary, so a fresh build
//! speaks every kind in every locale without any file beside it.
fn main() {
    minijinja_embed::embed_templates!("templates");
}
