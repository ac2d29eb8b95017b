mod create;
mod delete;
mod get;
mod list;
mod replace;
mod update;
mod variants;
mod webp_variants;
