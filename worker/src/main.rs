#![allow(dead_code)]
mod store;
fn main() {}
