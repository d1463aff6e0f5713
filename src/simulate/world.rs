//! The simulated platform's cast: accounts with their lines and queues, agents, and
//! customers. Built once from the seed; the traffic only reads it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::events::wire::CustomerCrumb;

/// Where agents' avatars live (the same host as the demo file's).
const AVATAR_BASE: &str = "https://cdn.evovoice.example/avatars";

/// How many customers each account knows.
const CUSTOMERS_PER_ACCOUNT: u32 = 40;

/// A business on the platform, as a template: the simulator cycles through these.
struct Template {
    /// Short key used in every id of the account (`U-acme-1`, `E-acme-mainline`).
    slug: &'static str,
    /// The rest of the account id (`A-acme-plumbing`).
    id: &'static str,
    name: &'static str,
    domain: &'static str,
    /// The voice queue's name.
    queue: &'static str,
    /// Customer categories: each a path of (id suffix, name) from the root down.
    categories: &'static [&'static [(&'static str, &'static str)]],
    /// Things customers call this business about.
    topics: &'static [&'static str],
}

const TEMPLATES: &[Template] = &[
    Template {
        slug: "acme",
        id: "acme-plumbing",
        name: "Acme Plumbing",
        domain: "acmeplumbing.example",
        queue: "Service Desk",
        categories: &[
            &[("residential", "Residential")],
            &[("commercial", "Commercial")],
        ],
        topics: &[
            "water heater leaking",
            "kitchen drain clog",
            "burst pipe",
            "no hot water",
            "grease trap backing up",
            "toilet running",
        ],
    },
    Template {
        slug: "northwind",
        id: "northwind-dental",
        name: "Northwind Dental",
        domain: "northwinddental.example",
        queue: "Front Desk",
        categories: &[
            &[("downtown", "Downtown Clinic")],
            &[("eastgate", "Eastgate Clinic")],
        ],
        topics: &[
            "cleaning appointment",
            "chipped tooth",
            "insurance pre-authorization",
            "billing question",
            "reschedule visit",
        ],
    },
    Template {
        slug: "blueharbor",
        id: "blueharbor-insurance",
        name: "Blue Harbor Insurance",
        domain: "blueharbor.example",
        queue: "Claims",
        categories: &[
            &[("personal", "Personal Lines"), ("personal-auto", "Auto")],
            &[("personal", "Personal Lines"), ("personal-home", "Home")],
            &[
                ("commercial", "Commercial Lines"),
                ("commercial-fleet", "Fleet"),
            ],
        ],
        topics: &[
            "new auto claim",
            "claim status",
            "policy renewal",
            "umbrella policy quote",
            "disputes total-loss value",
        ],
    },
    Template {
        slug: "summit",
        id: "summit-roofing",
        name: "Summit Roofing",
        domain: "summitroofing.example",
        queue: "Estimates",
        categories: &[
            &[("residential", "Residential")],
            &[("commercial", "Commercial")],
        ],
        topics: &[
            "roof leak after storm",
            "estimate for new roof",
            "gutter repair",
            "warranty inspection",
        ],
    },
    Template {
        slug: "cedarcreek",
        id: "cedarcreek-vet",
        name: "Cedar Creek Veterinary",
        domain: "cedarcreekvet.example",
        queue: "Reception",
        categories: &[&[("small", "Small Animals")], &[("equine", "Equine")]],
        topics: &[
            "vaccination appointment",
            "dog not eating",
            "prescription refill",
            "farm visit for a lame horse",
        ],
    },
    Template {
        slug: "harborview",
        id: "harborview-property",
        name: "Harborview Property Management",
        domain: "harborview.example",
        queue: "Maintenance",
        categories: &[&[("tenants", "Tenants")], &[("owners", "Owners")]],
        topics: &[
            "heating not working",
            "lease renewal",
            "noise complaint",
            "owner statement question",
        ],
    },
    Template {
        slug: "pioneer",
        id: "pioneer-auto",
        name: "Pioneer Auto Repair",
        domain: "pioneerauto.example",
        queue: "Service Advisors",
        categories: &[&[("walkin", "Walk-in")], &[("fleet", "Fleet")]],
        topics: &[
            "brake noise",
            "check engine light",
            "oil change booking",
            "fleet van inspection",
        ],
    },
    Template {
        slug: "lumen",
        id: "lumen-legal",
        name: "Lumen Legal Group",
        domain: "lumenlegal.example",
        queue: "Intake",
        categories: &[
            &[("family", "Family Law")],
            &[("estate", "Estate Planning")],
        ],
        topics: &[
            "new client consultation",
            "will update",
            "custody hearing date",
            "document signing",
        ],
    },
];

const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carla", "Dev", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tess",
    "Marco", "Grace", "Derek", "Hannah", "Lucas", "Aisha", "Tom", "Emily", "Jordan", "Sofia",
    "Marcus", "Chidi", "Maria", "Ivan", "Mei", "Noah", "Olivia", "Liam", "Zara", "Ethan", "Fatima",
    "Kenji", "Leila", "Mateo", "Nora", "Pavel", "Ruth", "Theo", "Yara",
];

const LAST_NAMES: &[&str] = &[
    "Moreno",
    "Kowalski",
    "Jensen",
    "Raman",
    "Park",
    "Haddad",
    "Shah",
    "Foster",
    "Delgado",
    "Whitfield",
    "Okonkwo",
    "Ruiz",
    "Lin",
    "Fowler",
    "Brooks",
    "Moreau",
    "Karimi",
    "Whitaker",
    "Chen",
    "Blake",
    "Alvarez",
    "Reed",
    "Okafor",
    "Gonzalez",
    "Petrov",
    "Tanaka",
    "Nguyen",
    "Patel",
    "Henderson",
    "Schmidt",
    "Larsen",
    "Dubois",
    "Rossi",
    "Novak",
    "Silva",
    "Murphy",
    "Ibrahim",
    "Kim",
    "Walsh",
    "Costa",
];

const BUSINESS_KINDS: &[&str] = &[
    "Bakery",
    "Hardware",
    "Diner",
    "Movers LLC",
    "Laundromat",
    "Auto Body",
    "Florist",
    "Builders",
    "Property Group",
    "Farms",
];

/// A non-user endpoint: a phone number, a chat widget, a fax line.
pub(super) struct Line {
    pub id: String,
    pub name: String,
    pub address: String,
}

/// A ring queue and the hold queue its agents park callers in.
pub(super) struct Queue {
    pub id: String,
    pub name: String,
    pub hold: String,
}

/// A customer an account knows, matched by caller id or assigned by an agent.
pub(super) struct Customer {
    pub id: String,
    pub name: String,
    pub phone: String,
    /// Caller-id name as the carrier delivers it.
    pub cnam: String,
    /// Ancestors then the customer itself.
    pub breadcrumb: Vec<CustomerCrumb>,
}

/// One account and everything it owns.
pub(super) struct Account {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub main: Line,
    pub webchat: Line,
    pub textline: Line,
    pub fax: Line,
    pub queue: Queue,
    pub chat_queue: Queue,
    /// Indexes into [`World::agents`].
    pub agents: Vec<usize>,
    pub customers: Vec<Customer>,
    pub topics: &'static [&'static str],
}

/// An agent: a user whose id is also their endpoint id (the JWT `sub`).
pub(super) struct Agent {
    pub id: String,
    pub name: String,
    pub avatar: String,
    pub station: String,
    /// Their member identity in sessions (`client:<id>`).
    pub identity: String,
}

/// The whole cast.
pub(super) struct World {
    pub accounts: Vec<Account>,
    pub agents: Vec<Agent>,
}

impl World {
    /// Builds `accounts` accounts (at least one) and `users` agents dealt round-robin over
    /// them, naming everyone from `rng`.
    pub fn new(rng: &mut ChaCha8Rng, accounts: usize, users: usize) -> Self {
        let mut accounts: Vec<Account> = (0..accounts.max(1)).map(|i| account(rng, i)).collect();
        let mut names = NamePool::default();
        let mut agents = Vec::with_capacity(users);
        for u in 0..users {
            let a = u % accounts.len();
            let account = &mut accounts[a];
            let n = account.agents.len() + 1;
            account.agents.push(agents.len());
            agents.push(agent(rng, &mut names, &account.slug, n));
        }
        Self { accounts, agents }
    }
}

/// Full names already given to agents, so that no two share one while names last.
#[derive(Default)]
struct NamePool(std::collections::HashSet<String>);

impl NamePool {
    fn fresh(&mut self, rng: &mut ChaCha8Rng) -> String {
        let mut name = person(rng);
        for _ in 0..20 {
            if !self.0.contains(&name) {
                break;
            }
            name = person(rng);
        }
        self.0.insert(name.clone());
        name
    }
}

fn account(rng: &mut ChaCha8Rng, index: usize) -> Account {
    let t = &TEMPLATES[index % TEMPLATES.len()];
    let round = index / TEMPLATES.len();
    let (slug, id, name) = if round == 0 {
        (t.slug.to_owned(), t.id.to_owned(), t.name.to_owned())
    } else {
        let n = round + 1;
        (
            format!("{}{n}", t.slug),
            format!("{}-{n}", t.id),
            format!("{} {n}", t.name),
        )
    };
    let area = 100 + (index % 900);
    let line = |kind: &str, label: &str, address: String| Line {
        id: format!("E-{slug}-{kind}"),
        name: format!("{name} {label}"),
        address,
    };
    let queue = |kind: &str, qname: &str| Queue {
        id: format!("Q-{slug}-{kind}"),
        name: qname.to_owned(),
        hold: format!("{qname} Hold"),
    };
    let customers = (0..CUSTOMERS_PER_ACCOUNT)
        .map(|i| customer(rng, &slug, t, 1000 + i))
        .collect();
    Account {
        main: line("mainline", "Main Line", format!("+1555{area:03}0100")),
        webchat: line("webchat", "Web Chat", format!("chat:{}", t.domain)),
        textline: line("textline", "Text Line", format!("+1555{area:03}0111")),
        fax: line("fax", "Fax", format!("+1555{area:03}0190")),
        queue: queue("main", t.queue),
        chat_queue: queue("webchat", "Web Chat"),
        id: format!("A-{id}"),
        slug,
        name,
        agents: Vec::new(),
        customers,
        topics: t.topics,
    }
}

fn agent(rng: &mut ChaCha8Rng, names: &mut NamePool, slug: &str, n: usize) -> Agent {
    let id = format!("U-{slug}-{n}");
    Agent {
        name: names.fresh(rng),
        avatar: format!("{AVATAR_BASE}/{id}.png"),
        station: format!("{slug}-desk-{n}"),
        identity: format!("client:{id}"),
        id,
    }
}

fn customer(rng: &mut ChaCha8Rng, slug: &str, t: &Template, number: u32) -> Customer {
    let id = format!("C-{slug}-{number}");
    let last = pick(rng, LAST_NAMES);
    let (name, cnam) = if rng.random_bool(0.35) {
        let kind = pick(rng, BUSINESS_KINDS);
        let name = format!("{last} {kind}");
        let cnam = name.to_uppercase().chars().take(15).collect();
        (name, cnam)
    } else {
        let first = pick(rng, FIRST_NAMES);
        (
            format!("{first} {last}"),
            format!("{} {}", last.to_uppercase(), first.to_uppercase()),
        )
    };
    let path = t.categories[rng.random_range(0..t.categories.len() as u32) as usize];
    let mut breadcrumb: Vec<CustomerCrumb> = path
        .iter()
        .map(|(suffix, cat)| CustomerCrumb {
            id: format!("C-{slug}-{suffix}"),
            name: (*cat).to_owned(),
        })
        .collect();
    breadcrumb.push(CustomerCrumb {
        id: id.clone(),
        name: name.clone(),
    });
    Customer {
        id,
        name,
        phone: phone_number(rng),
        cnam,
        breadcrumb,
    }
}

/// A random "First Last".
pub(super) fn person(rng: &mut ChaCha8Rng) -> String {
    format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES))
}

/// A random fictional North American number (`+1555...`).
pub(super) fn phone_number(rng: &mut ChaCha8Rng) -> String {
    format!("+155501{:05}", rng.random_range(0..100_000u32))
}

/// One element of a non-empty slice, uniformly.
pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len() as u32) as usize]
}
