//! Free TCP ports on 127.0.0.1 for the processes of a stack.

use std::net::TcpListener;

use crate::stack::StackError;

/// `N` distinct ports that were free on 127.0.0.1 a moment ago (the kernel
/// picks them; all are held at once so that they differ, then released for
/// the processes to bind).
pub fn free_ports<const N: usize>() -> Result<[u16; N], StackError> {
    let io = |e| StackError::Io {
        context: "finding a free port on 127.0.0.1".into(),
        source: e,
    };
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    let mut ports = [0u16; N];
    for (slot, listener) in ports.iter_mut().zip(&listeners) {
        *slot = listener.local_addr().map_err(io)?.port();
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports = free_ports::<6>().unwrap();
        let mut sorted = ports.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
        assert!(ports.iter().all(|p| *p > 0));
        let l = TcpListener::bind(("127.0.0.1", ports[0])).unwrap();
        drop(l);
    }
}
