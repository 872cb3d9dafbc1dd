"""Scrapy settings for qupost: every QUPOST_* setting has its default here.

Each one can be overridden on the command line with ``-s NAME=VALUE``.  The
README documents them all; ``QUPOST_PROFILE`` switches whole groups at once
(``fast`` for local runs and benchmarks, see ``crawler/profiles.py``).
"""

from __future__ import annotations

BOT_NAME = "qupost"

SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

# --- what to crawl --------------------------------------------------------
QUPOST_LIST_API = "http://api.1sapp.com/content/outList"
QUPOST_ALLOWED_DOMAINS = ["qutoutiao.net", "qktoutiao.com", "1sapp.com"]
# Hosts that may be fetched even though they resolve to private or loopback
# addresses (the list API's host is always allowed).  See README "Security".
QUPOST_TRUSTED_HOSTS: list[str] = []

# --- where it goes ----------------------------------------------------------
QUPOST_DATABASE_URL = "sqlite:///output/qupost.db"
QUPOST_SOURCE_DIR = "output/source"
# IMAGES_STORE is Scrapy's own setting; unset means <QUPOST_SOURCE_DIR>/images/qupost.
IMAGES_STORE = None
QUPOST_WRITE_POSTS = True
# The crawl's tree keeps the newest this many posts; older ones leave it, the catalog keeps them.
# 0 keeps every post.
QUPOST_KEEP_POSTS = 0

# --- post format ------------------------------------------------------------
QUPOST_IMAGE_URL_BASE = "/images/qupost/"
QUPOST_IMAGE_MODE = "local"
QUPOST_IMAGE_PROXY = ""
QUPOST_DATE_FORMAT = "rfc1123"
QUPOST_TIMEZONE = "Asia/Shanghai"
QUPOST_FSYNC = False
QUPOST_CATEGORIES = ["新媒体", "趣头条", "分类"]
# Front-matter keys for the theme's cover and card image (see the README's theme table).
QUPOST_THEME = "volantis"
# Unset: the theme's keys. A list here replaces them.
QUPOST_COVER_KEYS = None
# Write "abbrlink: <article id>" for hexo-abbrlink-style permalinks.
QUPOST_ABBRLINK = False
# Deleted at the source: keep the post, unpublish it (Hexo hides it) or remove it, images kept.
QUPOST_ON_DELETED = "unpublish"
# A new article that tells a story a stored post told first (a re-post under
# another id): keep its post, mark it (duplicate_of, published: false) or skip
# it (no post). The catalog records what it duplicates under every policy.
QUPOST_DUPLICATES = "keep"

# --- images -----------------------------------------------------------------
# Refuse images whose header declares more pixels than this (0 = no cap).
QUPOST_IMAGE_MAX_PIXELS = 50_000_000
# Media downloads in flight at once, across all articles.
QUPOST_IMAGE_CONCURRENCY = 16

# --- distributed mode (scrapy-redis + a shared SQL catalog) -------------------
QUPOST_DISTRIBUTED = False
REDIS_URL = "redis://127.0.0.1:6379/0"
QUPOST_REDIS_PREFIX = "qupost"
QUPOST_WORKER_IDLE_TIMEOUT = 30.0
QUPOST_WORKER_POLL_INTERVAL = 0.5

# --- runs -------------------------------------------------------------------
QUPOST_PROGRESS_INTERVAL = 10.0
# Freeze start-up objects out of the cyclic GC and collect less often (see crawler/tuning.py).
QUPOST_GC_TUNING = True
QUPOST_GC_THRESHOLD = [50_000, 20, 100]
QUPOST_PROFILE = ""

# --- monitoring ---------------------------------------------------------------
# The changed-site alarm (crawler/sitecheck.py): exit status 3 when at least this
# share (0 = off) of at least QUPOST_SITE_CHANGED_MIN article pages gave no title
# or no body, or of as many list rows carried no id or URL.
QUPOST_SITE_CHANGED_SHARE = 0.5
QUPOST_SITE_CHANGED_MIN = 20
# A Prometheus Pushgateway that receives each run's metrics when it closes
# (crawler/metrics.py); empty = no metrics.
QUPOST_PUSHGATEWAY_URL = ""
QUPOST_PUSHGATEWAY_JOB = "qupost"
QUPOST_PUSHGATEWAY_TIMEOUT = 10.0

# --- politeness: fit for the real site ---------------------------------------
USER_AGENT = "qupost/0.1 (Hexo blog archiver; obeys robots.txt)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.5
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy's RemoteControl runs Python code sent to a local HTTP port; a crawler
# of untrusted pages has no use for it.
REMOTE_CONTROL_ENABLED = False
REDIRECT_MAX_TIMES = 5
# Image hosts move files (http → https, a new path); the image pipeline follows
# their redirects too, each hop checked by TargetGuardMiddleware like any other.
MEDIA_ALLOW_REDIRECTS = True
# A <meta http-equiv="refresh"> is page content, and article content is not
# trusted to steer the crawler (Scrapy would even fail the page on a
# "javascript:" refresh).  Real moves use HTTP 3xx, which are followed.
METAREFRESH_ENABLED = False
# Host names that resolve to private or loopback addresses are refused at
# connection time, unless trusted (see crawler/resolver.py and README "Security").
TWISTED_DNS_RESOLVER = "crawler.resolver.SafeResolver"
# Plain priority order across hosts. Article requests outrank list pages (see
# ARTICLE_PRIORITY in the spider), so list pages are read only as fast as
# articles are fetched. Scrapy's default queue first picks the host with the
# fewest downloads in flight: with the list API on a host of its own, as on the
# real site, the next list page would always win and every article of the run
# would wait in memory.
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.ScrapyPriorityQueue"
# Says what became of each article request it drops (skipped, or failed).
DUPEFILTER_CLASS = "crawler.dupefilter.AccountingDupeFilter"
# Deleted articles answer 404; the spider reads that itself.
HTTPERROR_ALLOWED_CODES = [404]

# Debug-level lines for every request drown a cron log.
LOG_LEVEL = "INFO"
# A dropped article is logged as its one-line reason, without the item's repr.
LOG_FORMATTER = "crawler.logformatter.QupostLogFormatter"
LOGSTATS_INTERVAL = 0

# --- components ---------------------------------------------------------------
ADDONS = {
    "crawler.addons.Profiles": 0,
}

SPIDER_MIDDLEWARES = {
    "crawler.middlewares.IncrementalMiddleware": 600,
    "crawler.distributed.WorkerStart": 650,
}

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.SafeFetchMiddleware": 90,
    # Just outside Scrapy's redirect (600) and retry (550) middlewares: checks a
    # redirect's target, and names the resolver refused, before they act.
    "crawler.middlewares.TargetGuardMiddleware": 650,
}

ITEM_PIPELINES = {
    "pipelines.clean.CleanPipeline": 100,
    "pipelines.dates.DatePipeline": 200,
    "pipelines.images.StoreAsIsPipeline": 300,
    "pipelines.fingerprint.FingerprintPipeline": 350,
    "pipelines.store.StoragePipeline": 400,
}

EXTENSIONS = {
    "crawler.catalog.CrawlCatalog": 90,
    "crawler.failures.FailureLog": 100,
    "crawler.progress.Progress": 110,
    "crawler.distributed.WorkerIdle": 120,
    "crawler.tuning.GcTuning": 130,
}

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
