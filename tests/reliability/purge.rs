pub fn worker() -> i32 {
    0
}
