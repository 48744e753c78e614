//! A real authoritative DNS server on 127.0.0.1 for the tests of domain
//! proofs (hickory-server, in process, UDP and TCP on one port), serving the
//! zone `example.test.` whose TXT records a test sets while it runs.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

pub const ZONE: &str = "example.test.";

pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    _server: Server<Catalog>,
}

impl TestDns {
    pub async fn start() -> TestDns {
        let origin = Name::from_ascii(ZONE).unwrap();
        let mut zone: InMemoryZoneHandler =
            InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            Name::from_ascii("ns.example.test.").unwrap(),
            Name::from_ascii("hostmaster.example.test.").unwrap(),
            1,
            3600,
            600,
            86400,
            0,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1));
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::from(origin),
            vec![zone.clone() as Arc<dyn ZoneHandler>],
        );
        // One port number for UDP and TCP.
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 32);
        TestDns {
            addr,
            zone,
            _server: server,
        }
    }

    /// Replaces the TXT records at `name` (a name in the zone); none deletes
    /// them.
    pub async fn set_txt(&self, name: &str, values: &[&str]) {
        let name = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).unwrap();
        let key = RrKey::new(LowerName::from(name.clone()), RecordType::TXT);
        let mut records = self.zone.records_mut().await;
        if values.is_empty() {
            records.remove(&key);
            return;
        }
        let mut set = RecordSet::with_ttl(name, RecordType::TXT, 0);
        for v in values {
            set.add_rdata(RData::TXT(TXT::new(vec![(*v).to_owned()])));
        }
        records.insert(key, Arc::new(set));
    }
}
