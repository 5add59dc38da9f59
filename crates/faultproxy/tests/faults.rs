//! Each fault, seen from plain sockets on both sides of the proxy.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsguard_faultproxy::{Fault, Proxy};

/// Long enough to be sure nothing is coming on loopback.
const QUIET: Duration = Duration::from_millis(250);
/// Generous bound for what must happen.
const SOON: Duration = Duration::from_secs(5);

struct Pair {
    proxy: Proxy,
    listener: TcpListener,
    client: TcpStream,
    server: TcpStream,
}

async fn pair() -> Pair {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy::start(listener.local_addr().unwrap()).await.unwrap();
    let client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (server, _) = timeout(SOON, listener.accept()).await.unwrap().unwrap();
    let mut pair = Pair {
        proxy,
        listener,
        client,
        server,
    };
    // One byte each way: the relay is connected on both sides.
    pair.client.write_all(b".").await.unwrap();
    assert_eq!(read_exactly(&mut pair.server, 1).await, b".");
    pair.server.write_all(b".").await.unwrap();
    assert_eq!(read_exactly(&mut pair.client, 1).await, b".");
    pair
}

async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    timeout(SOON, stream.read_exact(&mut buf))
        .await
        .expect("bytes arrive")
        .unwrap();
    buf
}

/// Nothing (no byte, no EOF, no error) arrives for a while.
async fn assert_silent(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    if let Ok(read) = timeout(QUIET, stream.read(&mut buf)).await {
        panic!("expected silence, got {read:?}");
    }
}

async fn assert_reset(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    let read = timeout(SOON, stream.read(&mut buf))
        .await
        .expect("the reset arrives");
    assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn relays_bytes_both_ways_and_counts_them() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    client.write_all(b"hello").await.unwrap();
    assert_eq!(read_exactly(&mut server, 5).await, b"hello");
    server.write_all(b"hi!").await.unwrap();
    assert_eq!(read_exactly(&mut client, 3).await, b"hi!");
    let stats = proxy.stats();
    assert_eq!((stats.connections, stats.live), (1, 1));
    assert_eq!(
        (stats.bytes_to_upstream, stats.bytes_to_client),
        (1 + 5, 1 + 3)
    );
}

#[tokio::test]
async fn a_half_close_is_passed_on_and_the_other_way_keeps_flowing() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    client.shutdown().await.unwrap();
    let mut buf = [0; 8];
    assert_eq!(
        timeout(SOON, server.read(&mut buf)).await.unwrap().unwrap(),
        0,
        "EOF"
    );
    server.write_all(b"after").await.unwrap();
    assert_eq!(read_exactly(&mut client, 5).await, b"after");
    drop(server);
    assert_eq!(
        timeout(SOON, client.read(&mut buf)).await.unwrap().unwrap(),
        0,
        "EOF"
    );
    let deadline = Instant::now() + SOON;
    while proxy.stats().live > 0 {
        assert!(
            Instant::now() < deadline,
            "the relay ends when both sides closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn blackhole_holds_bytes_both_ways_and_lifting_it_resumes_the_streams() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    proxy.set_fault(Fault::Blackhole);
    client.write_all(b"up").await.unwrap();
    server.write_all(b"down").await.unwrap();
    assert_silent(&mut server).await;
    assert_silent(&mut client).await;
    client.write_all(b"-more").await.unwrap();
    proxy.set_fault(Fault::None);
    assert_eq!(read_exactly(&mut server, 7).await, b"up-more");
    assert_eq!(read_exactly(&mut client, 4).await, b"down");
}

#[tokio::test]
async fn blackhole_to_upstream_holds_only_that_way() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    proxy.set_fault(Fault::BlackholeToUpstream);
    client.write_all(b"up").await.unwrap();
    server.write_all(b"down").await.unwrap();
    assert_eq!(read_exactly(&mut client, 4).await, b"down");
    assert_silent(&mut server).await;
    proxy.set_fault(Fault::None);
    assert_eq!(read_exactly(&mut server, 2).await, b"up");
}

#[tokio::test]
async fn blackhole_to_client_holds_only_that_way() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    proxy.set_fault(Fault::BlackholeToClient);
    client.write_all(b"up").await.unwrap();
    server.write_all(b"down").await.unwrap();
    assert_eq!(read_exactly(&mut server, 2).await, b"up");
    assert_silent(&mut client).await;
    proxy.set_fault(Fault::None);
    assert_eq!(read_exactly(&mut client, 4).await, b"down");
}

#[tokio::test]
async fn a_blackhole_holds_closes_and_resets_until_it_lifts() {
    let Pair {
        proxy,
        client,
        mut server,
        ..
    } = pair().await;
    proxy.set_fault(Fault::Blackhole);
    drop(client);
    assert_silent(&mut server).await;
    proxy.set_fault(Fault::None);
    let mut buf = [0; 8];
    assert_eq!(
        timeout(SOON, server.read(&mut buf)).await.unwrap().unwrap(),
        0,
        "the FIN arrives after the lift"
    );

    let Pair {
        proxy,
        mut client,
        server,
        ..
    } = pair().await;
    proxy.set_fault(Fault::BlackholeToClient);
    server.set_zero_linger().unwrap();
    drop(server);
    assert_silent(&mut client).await;
    proxy.set_fault(Fault::None);
    assert_reset(&mut client).await;
}

#[tokio::test]
async fn blackhole_to_upstream_keeps_new_connections_from_reaching_it_until_it_lifts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy::start(listener.local_addr().unwrap()).await.unwrap();
    proxy.set_fault(Fault::BlackholeToUpstream);
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    client.write_all(b"early").await.unwrap();
    assert!(
        timeout(QUIET, listener.accept()).await.is_err(),
        "no connection upstream yet"
    );
    proxy.set_fault(Fault::None);
    let (mut server, _) = timeout(SOON, listener.accept()).await.unwrap().unwrap();
    assert_eq!(read_exactly(&mut server, 5).await, b"early");
}

#[tokio::test]
async fn delay_forwards_every_chunk_that_much_later_in_order() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    let delay = Duration::from_millis(300);
    proxy.set_fault(Fault::Delay(delay));
    let start = Instant::now();
    client.write_all(b"one").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.write_all(b"two").await.unwrap();
    server.write_all(b"back").await.unwrap();
    assert_eq!(read_exactly(&mut server, 6).await, b"onetwo");
    assert!(
        start.elapsed() >= delay + Duration::from_millis(50),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(read_exactly(&mut client, 4).await, b"back");
    assert!(start.elapsed() >= delay);

    proxy.set_fault(Fault::None);
    let start = Instant::now();
    client.write_all(b"now").await.unwrap();
    assert_eq!(read_exactly(&mut server, 3).await, b"now");
    assert!(start.elapsed() < delay, "no delay once lifted");
}

#[tokio::test]
async fn refuse_resets_new_connections_and_keeps_live_ones() {
    let Pair {
        proxy,
        listener,
        mut client,
        mut server,
    } = pair().await;
    proxy.set_fault(Fault::Refuse);
    let mut refused = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert_reset(&mut refused).await;
    assert!(
        timeout(QUIET, listener.accept()).await.is_err(),
        "never reaches the upstream"
    );
    client.write_all(b"still").await.unwrap();
    assert_eq!(read_exactly(&mut server, 5).await, b"still");
    assert_eq!((proxy.stats().refused, proxy.stats().connections), (1, 1));

    proxy.set_fault(Fault::None);
    let mut later = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut accepted, _) = timeout(SOON, listener.accept()).await.unwrap().unwrap();
    later.write_all(b"ok").await.unwrap();
    assert_eq!(read_exactly(&mut accepted, 2).await, b"ok");
}

#[tokio::test]
async fn reset_all_resets_every_live_connection_on_both_sides() {
    let Pair {
        proxy,
        listener,
        mut client,
        mut server,
    } = pair().await;
    let mut client2 = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut server2, _) = timeout(SOON, listener.accept()).await.unwrap().unwrap();
    // Even a blackhole does not hold a reset the proxy itself makes.
    proxy.set_fault(Fault::Blackhole);
    proxy.reset_all();
    assert_eq!(proxy.stats().resets, 2);
    for stream in [&mut client, &mut server, &mut client2, &mut server2] {
        assert_reset(stream).await;
    }
}

#[tokio::test]
async fn an_unreachable_upstream_resets_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    drop(listener);
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert_reset(&mut client).await;
    assert_eq!(proxy.stats().upstream_failures, 1);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_sockets_and_its_listener() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    let addr = proxy.local_addr();
    drop(proxy);
    let mut buf = [0; 8];
    assert_eq!(
        timeout(SOON, client.read(&mut buf)).await.unwrap().unwrap(),
        0
    );
    assert_eq!(
        timeout(SOON, server.read(&mut buf)).await.unwrap().unwrap(),
        0
    );
    let deadline = Instant::now() + SOON;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "the listener closes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_large_stream_survives_faults_switching_under_it() {
    let Pair {
        proxy,
        mut client,
        mut server,
        ..
    } = pair().await;
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        client.write_all(&sent).await.unwrap();
        client
    });
    let reader = tokio::spawn(async move {
        let mut got = vec![0; 4_000_000];
        server.read_exact(&mut got).await.unwrap();
        got
    });
    for fault in [
        Fault::Blackhole,
        Fault::Delay(Duration::from_millis(5)),
        Fault::BlackholeToUpstream,
        Fault::None,
    ] {
        proxy.set_fault(fault);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let got = timeout(SOON, reader).await.unwrap().unwrap();
    assert!(got == data, "every byte once, in order");
    drop(timeout(SOON, writer).await.unwrap().unwrap());
}
